"""The module graph of authsvc/ has no circle (import-linter's contracts in pyproject.toml pin the layers), and no
handler sends a notice."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

import authsvc.web
from authsvc.mail.notices import MailedNotices
from authsvc.users.ports import AddressBook, Notices


def test_no_module_of_authsvc_imports_itself_round_a_circle() -> None:
    graph = grimp.build_graph("authsvc")
    modules = sorted(graph.modules)
    circles = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain is not None:
                circles.append((module, *chain))
    assert circles == []


NOT_NOTICES = {"link", "issue"}  # MailedNotices' token helpers (and `issue` is also the device cookie's verb)


def notice_calls(tree: ast.AST) -> list[str]:
    """The calls in a module of a method by a notice's name (users.ports.Notices, mail.notices.MailedNotices, and
    AccountMail's old mfa_changed) or of the address book's (users.ports.AddressBook: setting an address mails it),
    or of anything reached as `notices`."""
    names = {name for name in vars(MailedNotices) if not name.startswith("_")} - NOT_NOTICES
    names |= {name for name in vars(Notices) if not name.startswith("_")} | {"mfa_changed"}
    names |= {name for name in vars(AddressBook) if not name.startswith("_")}  # an address set is its own notice
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (node.attr in names or node.attr == "notices"):
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "authsvc.mail.notices":
            found.append(f"{node.lineno}: from authsvc.mail.notices")
    return found


def test_no_handler_sends_a_notice_the_services_raise_them() -> None:
    """A change's notice is raised by the service that makes the change (users.ports.Notices, in the same call),
    never by a handler after it: both skins would have to remember it."""
    assert {"password_changed", "second_factor_changed"} <= set(vars(Notices))
    web = Path(authsvc.web.__file__).parent
    calls = {
        str(path.relative_to(web)): found
        for path in sorted(web.rglob("*.py"))
        if (found := notice_calls(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert calls == {}


def test_the_notice_check_finds_a_handler_that_mails_a_notice() -> None:
    handler = "async def change(request, mail):\n    await mail.password_changed(user, 'changed')\n"
    assert notice_calls(ast.parse(handler)) == ["2: .password_changed"]
    wired = "from authsvc.mail.notices import MailedNotices\nnotices = Provide[WebContainer.notices]\n"
    assert notice_calls(ast.parse(wired)) == ["1: from authsvc.mail.notices", "2: .notices"]


def test_the_notice_check_finds_a_handler_that_sets_an_address() -> None:
    handler = "async def set_email(request, mail):\n    await mail.set_address(user, address)\n"
    assert notice_calls(ast.parse(handler)) == ["2: .set_address"]
