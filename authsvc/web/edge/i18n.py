"""The portal's languages: English (the templates' and the services' own text), German and French from the compiled
catalogues in locales/ (tools/portal_translations.py writes them), chosen per request from Accept-Language.

A page's texts are translated while its request runs: the portal's middleware sets the reader's catalogue (`reading`)
and the templates (`_()`), the handlers (`gettext`, `ngettext`) and the message a page shows (`localize`) read it.
Services stay in English and know nothing of languages; `localize` finds their texts in the catalogue, and the few
that carry a number (a length rule) through NUMBERED, where each number is a placeholder.
"""

from __future__ import annotations

import gettext as gnu
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from aiohttp import hdrs

from authsvc.web.edge.middlewares import Asked

LOCALES = Path(__file__).resolve().parent.parent / "pages" / "locales"
LANGUAGES = ("en", "de", "fr")  # English is the source text; the others are catalogues in LOCALES
LANGUAGE_RANGE = re.compile(r"\s*([A-Za-z]{1,8}|\*)(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*")
_READING = ContextVar[gnu.NullTranslations | None]("portal_translations", default=None)

# Sentences with numbers in them as the portal shows the services' field problems (`field_problem`): each number
# is a %(name)s placeholder here and in the catalogue.
NUMBERED = (
    "Username must be %(min)s to %(max)s characters long.",
    "Password must be at least %(min)s characters long.",
    "Password must be at most %(max)s characters long.",
)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def N_(message: str) -> str:
    """Marks a text for the catalogue (pybabel extract) that is translated later, when a page shows it."""
    return message


@cache
def translations(language: str) -> gnu.NullTranslations:
    """The compiled catalogue of one of LANGUAGES (English: the source text as it is)."""
    if language == "en":
        return gnu.NullTranslations()
    return gnu.translation("portal", LOCALES, [language])


def language(request: Asked) -> str:
    """The best of LANGUAGES for the request's Accept-Language (q-values honoured), else English."""
    best, best_q = "en", 0.0
    for part in request.headers.get(hdrs.ACCEPT_LANGUAGE, "")[:512].split(","):
        match = LANGUAGE_RANGE.fullmatch(part)
        if not match:
            continue
        tag, q = match[1].lower(), float(match[2]) if match[2] else 1.0
        if tag in LANGUAGES and q > best_q:
            best, best_q = tag, q
    return best


@contextmanager
def reading(language: str) -> Iterator[None]:
    """Texts translated inside this block are in this language."""
    token = _READING.set(translations(language))
    try:
        yield
    finally:
        _READING.reset(token)


def gettext(message: str) -> str:
    return (_READING.get() or translations("en")).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return (_READING.get() or translations("en")).ngettext(singular, plural, count)


@cache
def _numbered() -> tuple[tuple[re.Pattern[str], str], ...]:
    """NUMBERED as patterns: the literal parts as they are, each placeholder a number."""
    patterns = []
    for text in NUMBERED:
        parts = _PLACEHOLDER.split(text)  # literal, name, literal, name, ..., literal
        regex = "".join(re.escape(part) if index % 2 == 0 else rf"(?P<{part}>\d+)" for index, part in enumerate(parts))
        patterns.append((re.compile(regex), text))
    return tuple(patterns)


def localize(text: str) -> str:
    """A text for a page (a service's English, or a handler's), in the reader's language when the catalogue has it."""
    translated = gettext(text)
    if translated != text:
        return translated
    for pattern, source in _numbered():
        if found := pattern.fullmatch(text):
            return gettext(source) % found.groupdict()
    return text


# The names the services give form fields in their problems ("newPassword must be at least 8 characters long"), as
# a sentence on a page starts.
FIELD_NAMES = {"username": "Username", "password": "Password", "newPassword": "Password", "email": "Email"}


def field_problem(why: str) -> str:
    """A service's problem with one field as a sentence in the reader's language: "Password must be at least 8..."."""
    name, _, rest = why.partition(" ")
    sentence = f"{FIELD_NAMES[name]} {rest}" if name in FIELD_NAMES and rest else why[:1].upper() + why[1:]
    return localize(sentence.rstrip(".") + ".")


def wait(seconds: int) -> str:
    """A wait as people say it, in the reader's language: "1 second", "45 seconds", "3 minutes"."""
    if seconds < 120:
        return ngettext("%(count)s second", "%(count)s seconds", seconds) % {"count": seconds}
    minutes = -(-seconds // 60)
    return ngettext("%(count)s minute", "%(count)s minutes", minutes) % {"count": minutes}
