"""Issue 30, item 6: no text log line carries a character a terminal acts on (`%1b]0;title%07` in a path reached the
terminal as ESC ... BEL and retitled it). Fields holding one are quoted and escaped, messages and tracebacks escaped
(their line breaks kept); JSON lines were already escaped, and stay so. tests/e2e/test_edges_process.py sends such a
path to the real process and reads its stderr."""

from __future__ import annotations

import json
import logging

import pytest

from tests.helpers import Stream, configure, direct_line, stdlib_line

NASTY = [
    "\x1b]0;title\x07",  # ESC ... BEL: an xterm title
    "\x1b[2J",  # clear screen
    "\r",  # carriage return: overwrite the line
    "\x7f",  # DEL
    "\x9b31m",  # C1 CSI
    "\u202e",  # right-to-left override
    "\u2028",  # line separator
    "\u00a0",  # no-break space
    "\U000e0001",  # language tag (a format character outside the BMP)
]


def raw_free(line: str) -> bool:
    return all(part.isprintable() for part in line.rstrip("\n").split("\n"))


@pytest.mark.parametrize("nasty", NASTY)
def test_a_text_field_with_a_non_printable_character_is_quoted_and_escaped(stderr: Stream, nasty: str) -> None:
    configure("INFO", "text", stderr)
    fields = {"method": "GET", "path": f"/a{nasty}b", "status": 404, "duration_ms": 1.0, "ip": None}
    for line in (stdlib_line(stderr, fields), direct_line(stderr, fields)):
        assert raw_free(line), repr(line)
        escaped = "".join(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}" for c in nasty)
        assert f'path="/a{escaped}b"' in line or f'path="/a{json.dumps(nasty)[1:-1]}b"' in line, line


def test_a_text_message_and_traceback_are_escaped_but_keep_their_line_breaks(stderr: Stream) -> None:
    configure("INFO", "text", stderr)
    log = logging.getLogger("authsvc.test")
    log.warning("first line\nsecond %s line", "\x1b]0;x\x07")
    try:
        raise ValueError("\x1b[31mred")
    except ValueError:
        log.exception("failed")
    text = stderr.getvalue()
    assert raw_free(text) and "\\u001b" in text
    assert "first line\nsecond \\u001b]0;x\\u0007 line" in text
    assert "ValueError: \\u001b[31mred" in text and "Traceback (most recent call last):\n" in text


@pytest.mark.parametrize("nasty", NASTY)
def test_json_lines_escape_every_non_printable_character(stderr: Stream, nasty: str) -> None:
    configure("INFO", "json", stderr)
    fields = {"method": "GET", "path": f"/a{nasty}b", "status": 404, "duration_ms": 1.0, "ip": None}
    for line in (stdlib_line(stderr, fields), direct_line(stderr, fields)):
        assert line.isascii() and raw_free(line)
        assert json.loads(line)["path"] == f"/a{nasty}b"  # escaped, not lost
    logging.getLogger("authsvc.test").warning("msg %s", nasty)
    assert stderr.getvalue().isascii()
