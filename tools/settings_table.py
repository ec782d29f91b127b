"""Writes the README's configuration table from the settings' schema in authsvc/config.py (`make settings-table`);
tests/unit/test_docs_match_schema.py fails while the README's copy differs."""

from __future__ import annotations

from pathlib import Path

from authsvc.config import SETTINGS_TABLE_HEAD, settings_table

README = Path(__file__).resolve().parent.parent / "README.md"


def with_table(text: str) -> str:
    """text with the lines of its configuration table (the head and every row after it) replaced by the schema's."""
    head, sep, rest = text.partition(SETTINGS_TABLE_HEAD + "\n")
    if not sep:
        raise SystemExit("README.md: the configuration table's head is missing")
    lines = rest.splitlines(keepends=True)
    rows = 0
    while rows < len(lines) and lines[rows].startswith("|"):
        rows += 1
    return head + settings_table() + "\n" + "".join(lines[rows:])


if __name__ == "__main__":
    README.write_text(with_table(README.read_text(encoding="utf-8")), encoding="utf-8")
