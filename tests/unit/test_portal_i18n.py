"""The portal's catalogues of English, German and French (every text the templates mark is translated; the shipped
.mo files are the .po files compiled; the package ships them); the pages speaking them: test_portal_i18n_http.py."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from authsvc.web.edge.i18n import NUMBERED
from tests.helpers import ROOT

LOCALES = ROOT / "authsvc" / "web" / "pages" / "locales"


Message = str | tuple[str, ...]
KEYWORDS: dict[str, Any] = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def marked_texts() -> set[Message]:
    """What the templates mark (`_()`) and the portal's code and the gateway check's denied page mark (N_, gettext,
    ngettext): singular or plural."""
    portal = ROOT / "authsvc" / "web" / "pages"
    edge = ROOT / "authsvc" / "web" / "edge"
    templates = extract_from_dir(
        str(portal / "templates"),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords=KEYWORDS,
    )
    code = extract_from_dir(str(portal), method_map=[("*.py", "python")], keywords=KEYWORDS)
    gate = [  # the denied page, and the services' sentences the pages localize
        *extract_from_file("python", str(edge / "gate.py"), keywords=KEYWORDS),
        *extract_from_file("python", str(edge / "i18n.py"), keywords=KEYWORDS),
    ]
    found = {message for _, _, message, _, _ in [*templates, *code]} | {message for _, message, _, _ in gate}
    return {message if isinstance(message, str) else tuple(message) for message in found if message}


def catalogue(language: str) -> tuple[dict[Message, Message], dict[Message, Message]]:
    """The .po file's translations and the .mo file's, each id to its text (plural ids and forms as tuples)."""
    folder = LOCALES / language / "LC_MESSAGES"
    with (folder / "portal.po").open("rb") as po_file:
        po = read_po(po_file)
    with (folder / "portal.mo").open("rb") as mo_file:
        mo = read_mo(mo_file)

    def entries(messages: Any) -> dict[Message, Message]:
        def key(value: Any) -> Message:
            return value if isinstance(value, str) else tuple(value)

        return {key(m.id): key(m.string) for m in messages if m.id and m.string}

    return entries(po), entries(mo)


@pytest.mark.parametrize("language", ["de", "fr"])
def test_every_marked_text_is_translated_and_the_mo_is_the_po_compiled(language: str) -> None:
    po, mo = catalogue(language)
    texts = marked_texts()
    assert len(texts) > 100 and ("%(count)s second", "%(count)s seconds") in texts
    assert sorted(map(str, texts - po.keys())) == []
    assert sorted(set(NUMBERED) - po.keys()) == []  # the services' numbered sentences the portal matches
    assert all(form for forms in po.values() if isinstance(forms, tuple) for form in forms)  # every plural form
    assert mo == po


def test_the_compiled_catalogues_are_package_data() -> None:
    # The wheel's file list as setuptools builds it from pyproject.toml's package-data.
    script = (
        "import setuptools, sys; from setuptools.dist import Distribution; d = Distribution();"
        "d.parse_config_files(); print(d.package_data)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "web/pages/locales/*/LC_MESSAGES/*.mo" in out
    assert sorted(p.relative_to(LOCALES).as_posix() for p in LOCALES.glob("*/LC_MESSAGES/*.mo")) == [
        "de/LC_MESSAGES/portal.mo",
        "fr/LC_MESSAGES/portal.mo",
    ]
