"""The portal's small rules, without a server: how long a throttled browser is told to wait."""

from __future__ import annotations

import pytest

from authsvc.web.edge.i18n import wait as wait_text


@pytest.mark.parametrize(
    ("seconds", "told"),
    [(1, "1 second"), (119, "119 seconds"), (120, "2 minutes"), (121, "3 minutes"), (900, "15 minutes")],
)
def test_a_wait_under_two_minutes_is_told_in_seconds_and_longer_ones_in_whole_minutes_rounded_up(
    seconds: int, told: str
) -> None:
    assert wait_text(seconds) == told
