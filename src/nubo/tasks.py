"""Importing this module registers every domain's jobs and periodic tasks."""

import nubo.fleet.tasks
import nubo.flights.orphans
import nubo.flights.tasks
import nubo.marketplace.tasks
import nubo.webhooks.tasks  # noqa: F401
