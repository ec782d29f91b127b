"""The portal's language helpers on their own: the Accept-Language choice, a block's language ending with it, and
a service's English (numbers included) as a page shows it in the reader's language."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from authsvc.web.edge.i18n import field_problem, gettext, language, localize, reading


class Asking:
    def __init__(self, accept_language: str) -> None:
        self.headers = CIMultiDict({"Accept-Language": accept_language})


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [("en, de;q=0.5", "en"), ("de-DE, en;q=0.8", "de"), ("fr;q=0.9, de;q=0.3", "fr"), ("es, it", "en"), ("", "en")],
)
def test_the_best_offered_language_is_chosen(accept: str, chosen: str) -> None:
    assert language(Asking(accept)) == chosen  # type: ignore[arg-type]


def test_a_reading_block_ends_with_its_language() -> None:
    with reading("de"):
        assert gettext("Sign in") == "Anmelden"
    assert gettext("Sign in") == "Sign in"


@pytest.mark.parametrize(
    ("english", "german"),
    [
        ("Your account", "Ihr Konto"),
        ("Username must be 3 to 64 characters long.", "Der Benutzername muss 3 bis 64 Zeichen lang sein."),
        ("Password must be at least 8 characters long.", "Das Passwort muss mindestens 8 Zeichen lang sein."),
        ("Password must be at most 72 characters long.", "Das Passwort darf höchstens 72 Zeichen lang sein."),
        ("Something no catalogue has.", "Something no catalogue has."),
    ],
)
def test_a_services_english_is_shown_in_the_readers_language(english: str, german: str) -> None:
    with reading("de"):
        assert localize(english) == german
    assert localize(english) == english


def test_a_field_problem_reads_as_a_sentence() -> None:
    assert field_problem("newPassword must be at least 8 characters long") == (
        "Password must be at least 8 characters long."
    )
    assert field_problem("is required") == "Is required."
    with reading("fr"):
        assert field_problem("password must be at most 72 characters long") == (
            "Le mot de passe doit compter au plus 72 caractères."
        )
