"""Signed webhooks (Standard Webhooks): endpoints, the event outbox and deliveries."""
