"""Which URLs a webhook may be delivered to: HTTPS in production (HTTP elsewhere too), never a
loopback, private, link-local or otherwise non-public address unless the deployment allows it
(`WEBHOOK_ALLOW_PRIVATE_TARGETS`: development and tests deliver to 127.0.0.1). Checked when a
webhook is saved (the literal host) and again before every delivery (what the name resolves to
then), so a name pointed at an internal address later is refused too."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from settings import Settings


class TargetRefused(Exception):
    """The URL may not be delivered to; `code` says why (a message code)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def check_url(url: str, settings: Settings) -> str:
    """The URL's host when its form is acceptable; TargetRefused otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise TargetRefused("WEBHOOK_URL_INVALID") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname or len(url) > 2000:
        raise TargetRefused("WEBHOOK_URL_INVALID")
    if parts.username or parts.password:
        raise TargetRefused("WEBHOOK_URL_INVALID")
    if parts.scheme != "https" and settings.environment == "production":
        raise TargetRefused("WEBHOOK_URL_NOT_HTTPS")
    host = parts.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host.lower() in {"localhost", "localhost.localdomain"} or host.lower().endswith(
            ".localhost"
        ):
            _check_address(ipaddress.ip_address("127.0.0.1"), settings)
        return host
    _check_address(address, settings)
    return host


def _check_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, settings: Settings
) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_global:
        return
    if settings.allows_private_webhook_targets:
        return
    raise TargetRefused("WEBHOOK_URL_PRIVATE")


async def check_resolved(url: str, settings: Settings) -> str | None:
    """Before a delivery: every address the host resolves to must be acceptable. Returns the
    address to connect to (None when the URL names an address): the request goes to that very
    address, so a name that resolves elsewhere a moment later (DNS rebinding) cannot lead the
    request to an internal one."""
    host = check_url(url, settings)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        _check_address(address, settings)
        return None
    port = urlsplit(url).port or 443
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused("WEBHOOK_URL_UNRESOLVABLE") from None
    if not infos:
        raise TargetRefused("WEBHOOK_URL_UNRESOLVABLE")
    for info in infos:
        _check_address(ipaddress.ip_address(info[4][0]), settings)
    return str(infos[0][4][0])
