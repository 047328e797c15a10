"""Which destinations are public, and how a checked address is pinned for the connection."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from nubo.webhooks.outbound import _pinned, public


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.8", "172.16.5.4", "192.168.1.1",
                                     "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1",
                                     "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1"])
def test_private_loopback_and_link_local_addresses_are_not_public(address):
    assert not public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_global_addresses_are_public(address):
    assert public(ipaddress.ip_address(address))


def test_the_connection_goes_to_the_checked_address_with_the_names_host_and_tls_name():
    url, headers, extensions = _pinned(httpx.URL("https://hooks.example.com:8443/in?a=1"),
                                       ipaddress.ip_address("93.184.215.14"))
    assert str(url) == "https://93.184.215.14:8443/in?a=1"
    assert headers == {"host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    v6, _, _ = _pinned(httpx.URL("http://h.example.com/x"),
                       ipaddress.ip_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c"))
    assert v6.host == "2606:2800:21f:cb07:6820:80da:af6b:8b2c" and str(v6).startswith("http://[")
