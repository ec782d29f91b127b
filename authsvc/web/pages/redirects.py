"""Where a login may send the browser back to: the `rd` parameter, honoured only inside an allowlist.

An open redirect on a login page is a phishing tool, so this is strict and small: printable ASCII only (browsers
send IDN hosts as punycode and percent-encode the rest), no backslashes, no user info, no percent-encoding in the
host, no control characters even once decoded, http(s) only (https only outside development), and a host that is
the portal's own origin or equal to or under an allowed domain. Anything else is None: the caller falls back to
portal.default_redirect. Knows nothing of HTTP frameworks.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from urllib.parse import unquote, urlsplit

MAX_LENGTH = 2048
PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")  # control characters and backslash (browsers read it as /)
HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def _origin(scheme: str, host: str, port: int | None) -> str:
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def normalize_origin(origin: str) -> str:
    """scheme://host[:port] in lower case, the scheme's default port dropped."""
    parts = urlsplit(origin.lower())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return origin.lower()
    return _origin(parts.scheme, parts.hostname, parts.port)


def safe_redirect(
    rd: str | None, *, own_origins: Collection[str], allowed_domains: Sequence[str], https_only: bool
) -> str | None:
    """rd when a login may send the browser there, else None.

    own_origins: the portal's own origins (normalised, see normalize_origin); a path on them (`/app`) is allowed.
    allowed_domains: hosts that are allowed with every subdomain (lower case, no leading dot).
    """
    if not rd or len(rd) > MAX_LENGTH or not PRINTABLE_ASCII.fullmatch(rd):
        return None
    decoded = unquote(rd)
    if CONTROL.search(decoded) or CONTROL.search(unquote(decoded)):
        return None
    if rd.startswith("/"):
        # A path on our own origin; "//host" and "/%2F/host" would be another host.
        return rd if not decoded.startswith("//") and not unquote(decoded).startswith("//") else None
    parts = urlsplit(rd)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or (https_only and scheme != "https"):
        return None
    if not rd[len(scheme) + 1 :].startswith("//") or not parts.netloc or "@" in parts.netloc or "%" in parts.netloc:
        return None
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        return None
    if not HOST.fullmatch(host):
        return None  # also IPv6 literals, trailing dots, empty labels and underscores
    if _origin(scheme, host, port) in own_origins:
        return rd
    if any(host == domain or host.endswith("." + domain) for domain in allowed_domains):
        return rd
    return None
