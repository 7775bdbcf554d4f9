"""Address checks the adapters share (no SDK here)."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """localhost (and *.localhost), 127.0.0.0/8 or ::1, with or without IPv6 brackets."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
