"""How the account page names a session's device: browser on system as people say it, never the raw user agent."""

from __future__ import annotations

import pytest

from authsvc.web.pages.account import device_name

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    " Edg/131.0.0.0"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1"
    " Mobile/15E148 Safari/604.1"
)

CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile"
    " Safari/537.36"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1"
    " Safari/605.1.15"
)


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (FIREFOX_LINUX, "Firefox on Linux"),
        (EDGE_WINDOWS, "Edge on Windows"),
        (SAFARI_IPHONE, "Safari on iPhone"),
        (CHROME_ANDROID, "Chrome on Android"),
        (SAFARI_MAC, "Safari on macOS"),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36",
            "Chrome on ChromeOS",
        ),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1", "Safari on iPad"),
        ("curl/8.5.0 Firefox/1.0", "Firefox"),  # a browser, no system: no "on None"
        ("Something (Android 14)", "Android"),
        ("curl/8.5.0", "curl/8.5.0"),
        ("x" * 100, "x" * 40),
        (None, "Unknown device"),
        ("", "Unknown device"),
    ],
)
def test_a_device_is_named_browser_on_system(agent: str | None, name: str) -> None:
    assert device_name(agent) == name
