"""Mutation testing of the security core: does a test fail when the code is changed a little?

    python tools/mutate.py [--jobs 2] [--timeout 120] [--rerun-survivors] [--only PART ...] [--baseline-only]
    (or: make mutate, make mutate ARGS="--rerun-survivors")

Our own small mutator, because mutmut 3 copies the tree into mutants/ and trampolines every function, which this
layout (dependency-injector wiring, decorated handlers) does not survive. This one

- walks the AST of each file of the security core (TARGETS) and makes one mutant per candidate: a comparison
  flipped (``<`` -> ``<=``, ``==`` -> ``!=``, ``in`` -> ``not in``), ``and`` <-> ``or``, a ``not`` dropped, ``+``
  <-> ``-`` (and ``*``, ``/``, ``//``), ``True`` <-> ``False``, an integer plus one, an ``if``/``while`` test made
  ``True`` or ``False``, a call statement deleted, an element dropped from a literal set/list/tuple of a module
  constant;
- collects the fast tests once (tests/unit, tests/http and the memory backend's contract tests), then runs them all
  once in a forked child without a mutant (the baseline), with a probe at the top of every function of the security core
  that notes which tests run it; then forks per mutant: the child swaps the mutated function's ``__code__`` in
  place (so every reference, wired or imported, runs the mutant), runs the tests that run that function until one
  fails and reports which; tests that killed a mutant of the same function run first;
- keeps every child's conditions those of a plain ``pytest`` run: no profiler (the probes cost nothing elsewhere),
  the collected objects frozen before forking, and the garbage of each test collected at its own teardown, so a
  warning raised by a finalizer (an unclosed socket, under ``filterwarnings = error``) fails the test that leaked
  it and not whichever test the collector happens to interrupt next;
- writes the score and every survivor to docs/mutation.md, and every result to docs/mutation.json with a
  fingerprint of the mutated function's code.

``--rerun-survivors`` keeps a previous kill while the mutated function's code (its fingerprint) is unchanged and
the killing test still exists; survivors, new mutants and mutants of changed functions run again. ``--only PART``
(repeatable; a part of the file path) runs those files' mutants and keeps the other files' previous results, so a
run can be split in pieces. ``--baseline-only`` checks that the fast tests pass under the harness.

Survivors that cannot be killed because they change nothing observable are listed in EQUIVALENT below, each with
its reason. Not part of CI (minutes, not seconds); run it before resolving a security issue.
"""

from __future__ import annotations

import argparse
import ast
import gc
import hashlib
import importlib
import inspect
import json
import os
import select
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = [  # the security core: what auth/ and portal/ held before the web got its own folder (issue 23)
    "authsvc/auth",
    "authsvc/login",
    "authsvc/throttle",
    "authsvc/web/edge/bodies.py",
    "authsvc/web/edge/cookie_header.py",
    "authsvc/web/edge/cookies.py",
    "authsvc/web/edge/devices.py",
    "authsvc/web/edge/forms.py",
    "authsvc/web/edge/gate.py",
    "authsvc/web/edge/guards.py",
    "authsvc/web/edge/i18n.py",
    "authsvc/web/edge/logins.py",
    "authsvc/web/edge/middlewares.py",
    "authsvc/web/edge/pending_cookie.py",
    "authsvc/web/edge/views.py",
    "authsvc/web/api/auth.py",
    "authsvc/web/api/mfa.py",
    "authsvc/web/api/passkeys.py",
    "authsvc/storage/memory.py",
    "authsvc/web/pages",
    "authsvc/mail/service.py",
    "authsvc/mail/notices.py",
]
TESTS = [  # unit and in-process HTTP tests, and the memory backend's runs of these contract tests (-m "not mongodb")
    "tests/unit",
    "tests/http",
    "tests/contract/test_services_contract.py",
    "tests/contract/test_storage_contract.py",
    "tests/contract/test_mail_flows.py",
    "tests/contract/test_mail_storage.py",
    "tests/contract/test_passkeys_contract.py",
    "tests/contract/test_second_factors_contract.py",
    "tests/contract/test_mfa_flow_contract.py",
    "tests/contract/test_revocation_generation.py",
    "tests/contract/test_not_me_recovery.py",
    "tests/contract/test_outbox_sealed.py",
    "tests/contract/test_access_table.py",
]
REPORT = ROOT / "docs" / "mutation.md"
RESULTS = ROOT / "docs" / "mutation.json"

# file:function:mutation -> why no test can tell the mutant from the original.
SAME_INSTANT = (
    "the factor's addition and its notice happen in one request, and the tests' manual clock reads the same instant"
    " for both, so the event time is the same either way; in real time the notice is milliseconds later"
)
EQUIVALENT: dict[str, str] = {
    "authsvc/storage/memory.py:MemoryUserRepository.find_by_username:`user_id` -> True": (
        "`dict.get(None)` is None as well: the guard only spares a look-up"
    ),
    "authsvc/auth/factors.py:matching_step:`not _TOTP_CODE.fullmatch(code)` -> False": (
        "what is not six digits never equals a six-digit code in compare_digest either: the early answer only spares"
        " three HMACs"
    ),
    "authsvc/web/pages/handlers.py:portal_page:delete `setattr(handler, PORTAL_PAGE, True)`": (
        "a decorator: it ran when the handlers were defined, before the harness swaps its code, so the mutant"
        " never runs; what it marks (the pages' HTML errors and Content-Security-Policy) the portal tests pin"
    ),
    "authsvc/web/pages/handlers.py:portal_page:`True` -> `False`": (
        "a decorator: it ran when the handlers were defined, before the harness swaps its code, so the mutant"
        " never runs; what it marks (the pages' HTML errors and Content-Security-Policy) the portal tests pin"
    ),
    "authsvc/web/pages/handlers.py:scripted_page:delete `setattr(handler, SCRIPTED_PAGE, True)`": (
        "a decorator: it ran when the handlers were defined, before the harness swaps its code, so the mutant"
        " never runs; what it marks (the pages' HTML errors and Content-Security-Policy) the portal tests pin"
    ),
    "authsvc/web/pages/handlers.py:scripted_page:`True` -> `False`": (
        "a decorator: it ran when the handlers were defined, before the harness swaps its code, so the mutant"
        " never runs; what it marks (the pages' HTML errors and Content-Security-Policy) the portal tests pin"
    ),
    "authsvc/web/pages/handlers.py:setup_portal:`True` -> `False`#1": (
        "trim_blocks: only the whitespace of the rendered HTML changes (test_portal_escaping pins autoescape, #0)"
    ),
    "authsvc/web/pages/handlers.py:setup_portal:`True` -> `False`#2": (
        "lstrip_blocks: only the whitespace of the rendered HTML changes"
    ),
    "authsvc/auth/passkeys.py:PasskeyService._take:`challenge` -> True": (
        "no challenge is stored under the empty string: taking it finds nothing either; the guard spares a look-up"
    ),
    "authsvc/login/strategies.py:PasswordlessStrategy.claim:`credential_id` -> True": (
        "no passkey is stored under the empty id: finding it gives None either; the guard spares a look-up"
    ),
    "authsvc/auth/passkeys.py:PasskeyService.login_options:`user_id is not None` -> True": (
        "no passkey belongs to the user id None: listing them gives [] either; the guard spares a look-up"
    ),
    "authsvc/auth/mfa.py:MfaService.check_recent_proof:`not methods or self._recent(auth)` -> False": (
        "the proof it then asks for is the current password, which change_password checks next anyway, counted the"
        " same, with the same field and message; the code part returns at once for a recent session or no TOTP"
    ),
    "authsvc/auth/mfa.py:MfaService.check_recent_proof:`not methods or self._recent(auth)`: `or` -> `and`": (
        "as `-> False`: asking a recent or unenrolled session for the proof checks only the current password,"
        " which change_password checks next with the same answer and count"
    ),
    "authsvc/auth/factors.py:PendingLogins.issue:`16` -> `17`": (
        "a login id of 136 random bits instead of 128 is as unique; it is sealed in the token, nobody sees its length"
    ),
    "authsvc/web/edge/pending_cookie.py:PasskeyChallengeCookie.new_nonce:`24` -> `25`": (
        "a browser nonce of 200 random bits instead of 192 is as unguessable; only its hash is stored, any length"
    ),
    "authsvc/web/edge/guards.py:login_required:delete `delattr(guarded, '__wrapped__')`": (
        "a decorator: it ran when the handlers were defined, before the harness swaps its code, so the mutant never"
        " runs; what it guards (dependency-injector's wiring injecting into the wrapper) every guarded route's test"
        " would show as a TypeError"
    ),
    "authsvc/web/edge/guards.py:login_required:delete"
    " `guarded.__dict__.update({k: v for k, v in vars(handler).items() if k.startswi...`": (
        "a decorator: it ran when the handlers were defined, before the harness swaps its code, so the mutant never"
        " runs; the marks it copies (portal page, scripted page) the portal tests pin"
    ),
    "authsvc/mail/notices.py:MailedNotices._notify:`at is None` -> True": (
        "every notice given an event time gives the factor's addition: " + SAME_INSTANT
    ),
    "authsvc/web/pages/handlers.py:LoginForm.render:`0` -> `1`": (
        "session.remember_me_lifetime is 0 (off) or at least session.idle_timeout (check-config refuses anything"
        " between), so no valid configuration has a lifetime of exactly 1 second"
    ),
    "authsvc/web/edge/i18n.py:_numbered:`index % 2 == 0` -> True": (
        "_numbered is cached: the baseline's first page built the patterns before the harness swaps the code, so the"
        " mutant never runs; tests/unit/test_portal_localize.py fails on it when the module is edited by hand"
    ),
    "authsvc/mail/notices.py:MailedNotices.issue:`32` -> `33`": (
        "a mailed token of 264 random bits instead of 256 is as unguessable; only its hash is stored, any length"
    ),
    "authsvc/mail/service.py:AccountMail._live_token:"
    "`record is None or not hmac.compare_digest(record.id_hash, id_hash)` -> False": (
        "returns the record either way: None when none was found, and a found record carries the very hash it was"
        " found by; the constant-time re-check guards a backend whose look-up matches more loosely"
    ),
    "authsvc/mail/service.py:AccountMail._forgot:`FORGOT_MIN_SECONDS - (time.monotonic() - started)`: `-` -> `+`": (
        "not equivalent: the floor grows by the time already spent; only an upper bound on the answer time tells,"
        " and the suite keeps such timing out of tests (test_account_mail_edges pins the floor itself)"
    ),
    "authsvc/web/edge/devices.py:<module>:`16` -> `17`": (
        "a device id of 136 random bits instead of 128 is as unique; it is sealed in the cookie, nobody sees its length"
    ),
    "authsvc/login/strategies.py:_login_name:`len(raw) > LOGIN_NAME_CAP` -> False": (
        "the check after normalising refuses the same names, except a typed name over 256 characters that NFKC composes"
        " to 256 or fewer: that takes combining marks, which no name sign-up allows (only a migrated tutorial account"
        " could have one); the first check spares normalising an over-long input"
    ),
    "authsvc/web/edge/gate.py:GatewayCheck.__init__:`1024` -> `1025`": (
        "a memory cap: one more trusted-peer answer remembered; what a request gets is the same"
    ),
    "authsvc/web/edge/gate.py:GatewayCheck.answer:`policy.trivial` -> False": (
        "the shortcut of the default configuration (no rules, one_factor): the rule walk decides the same for that"
        " policy, the shortcut only spares it (bench --only gateway measures it)"
    ),
    "authsvc/web/edge/gate.py:GatewayCheck._from_trusted_proxy:`request.transport` -> True": (
        "a request's transport is gone only when its client hung up mid-request; neither server runs the check's"
        " answer for it then, so no test through a real socket can hold such a request"
    ),
    "authsvc/web/edge/cookies.py:<module>:`4096` -> `4097`": (
        "a memory cap: one more remembered Cookie header; what a request gets is the same, only the bound moves"
    ),
    "authsvc/web/edge/cookies.py:<module>:`1024` -> `1025`": (
        "a memory cap: a Cookie header one character longer is remembered; what a request gets is the same"
    ),
}

COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
}
SYMBOLS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
    ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
    ast.Div: "/", ast.FloorDiv: "//", ast.And: "and", ast.Or: "or",
}  # fmt: skip


@dataclass
class Mutant:
    file: str
    line: int
    scope: str  # the qualname of the function whose code changes, or "<module>"
    description: str
    index: int  # which candidate of the file, in walk order
    occurrence: int = 0  # how many earlier mutants of this scope have the same description
    status: str = "pending"  # killed, survived, timeout, error; pending: not run (yet)
    killed_by: str = ""
    fingerprint: str = ""  # of the mutated function's code (or the module statement): a change means run again
    seconds: float = 0.0  # how long its child ran

    @property
    def key(self) -> str:
        """What names the mutant across runs (line numbers move): scope, change, and which of equal changes."""
        return f"{self.file}:{self.scope}:{self.description}" + (f"#{self.occurrence}" if self.occurrence else "")


# Finding the candidates.

Candidate = tuple[ast.AST, str, str, int]  # node, scope, description, variant


def _candidates(tree: ast.Module) -> Iterator[Candidate]:
    """(node, scope, description, variant) for every mutation of this module, in a fixed order."""
    for function, scope in _functions(tree):
        yield from _in_function(function, scope)
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            yield from _in_expression(statement.value, "<module>", constants=True)


def _in_function(
    function: ast.FunctionDef | ast.AsyncFunctionDef, scope: str
) -> Iterator[tuple[ast.AST, str, str, int]]:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    for statement in body:
        yield from _in_statement(statement, scope)


def _in_statement(statement: ast.stmt, scope: str) -> Iterator[Candidate]:
    for node in _walk_statement(statement):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call | ast.Await):
            yield node, scope, f"delete `{_source(node)}`", 0
        if isinstance(node, ast.If | ast.While):
            yield node, scope, f"`{_source(node.test)}` -> True", 1
            yield node, scope, f"`{_source(node.test)}` -> False", 2
        if isinstance(node, ast.AugAssign) and type(node.op) in BINOP_SWAPS:
            yield node, scope, f"`{SYMBOLS[type(node.op)]}=` -> `{SYMBOLS[BINOP_SWAPS[type(node.op)]]}=`", 0
        if isinstance(node, ast.expr):
            yield from _expression_mutations(node, scope, constants=False)


def _walk_statement(statement: ast.stmt) -> Iterator[ast.AST]:
    """Every node of a statement, not descending into annotations, f-string parts or nested docstrings."""
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop(0)
        yield node
        for name, value in ast.iter_fields(node):
            if name in {"annotation", "returns", "decorator_list", "type_comment"}:
                continue
            if isinstance(node, ast.JoinedStr):
                continue
            children = value if isinstance(value, list) else [value]
            stack[0:0] = [child for child in children if isinstance(child, ast.AST)]


def _in_expression(expression: ast.expr, scope: str, constants: bool) -> Iterator[Candidate]:
    # Callable[[web.Request], ...] and the like are types, not values a test could observe.
    typing = {id(n) for sub in ast.walk(expression) if isinstance(sub, ast.Subscript) for n in ast.walk(sub.slice)}
    for node in ast.walk(expression):
        if isinstance(node, ast.expr) and id(node) not in typing:
            yield from _expression_mutations(node, scope, constants)


def _expression_mutations(node: ast.expr, scope: str, constants: bool) -> Iterator[Candidate]:
    if isinstance(node, ast.Compare):
        for position, op in enumerate(node.ops):
            if type(op) in COMPARE_SWAPS:
                swapped = SYMBOLS[COMPARE_SWAPS[type(op)]]
                yield node, scope, f"`{_source(node)}`: `{SYMBOLS[type(op)]}` -> `{swapped}`", position
    elif isinstance(node, ast.BoolOp):
        other = "or" if isinstance(node.op, ast.And) else "and"
        yield node, scope, f"`{_source(node)}`: `{SYMBOLS[type(node.op)]}` -> `{other}`", 0
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield node, scope, f"`{_source(node)}`: drop `not`", 0
    elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
        swapped = SYMBOLS[BINOP_SWAPS[type(node.op)]]
        yield node, scope, f"`{_source(node)}`: `{SYMBOLS[type(node.op)]}` -> `{swapped}`", 0
    elif isinstance(node, ast.IfExp):
        yield node, scope, f"`{_source(node.test)}` -> True", 1
        yield node, scope, f"`{_source(node.test)}` -> False", 2
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield node, scope, f"`{node.value}` -> `{not node.value}`", 0
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield node, scope, f"`{node.value}` -> `{node.value + 1}`", 0
    elif constants and isinstance(node, ast.Set | ast.List | ast.Tuple) and len(node.elts) > 1:
        for position, element in enumerate(node.elts):
            yield node, scope, f"drop `{_source(element)}` from `{_source(node)[:60]}`", position


def _source(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 80 else text[:77] + "..."


def _mutate(node: ast.AST, variant: int) -> ast.AST | None:
    """The mutated replacement for node (None: delete the statement)."""
    if isinstance(node, ast.Expr):
        return ast.Pass()
    if isinstance(node, ast.If | ast.While):
        node.test = ast.Constant(variant == 1)
        return node
    if isinstance(node, ast.IfExp):
        node.test = ast.Constant(variant == 1)
        return node
    if isinstance(node, ast.AugAssign | ast.BinOp):
        node.op = BINOP_SWAPS[type(node.op)]()
        return node
    if isinstance(node, ast.Compare):
        node.ops[variant] = COMPARE_SWAPS[type(node.ops[variant])]()
        return node
    if isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return node
    if isinstance(node, ast.UnaryOp):
        return node.operand
    if isinstance(node, ast.Constant):
        return ast.Constant(not node.value if isinstance(node.value, bool) else node.value + 1)
    if isinstance(node, ast.Set | ast.List | ast.Tuple):
        del node.elts[variant]
        return node
    raise TypeError(type(node))


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, variant: int) -> None:
        self.target, self.variant = target, variant

    def visit(self, node: ast.AST) -> Any:
        if node is self.target:
            return _mutate(node, self.variant)
        return super().visit(node)


def target_files() -> list[str]:
    files = []
    for target in TARGETS:
        path = ROOT / target
        files += [str(file.relative_to(ROOT)) for file in (sorted(path.rglob("*.py")) if path.is_dir() else [path])]
    return files


def _functions(tree: ast.Module) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    """The module's functions and methods that mutants live in, with their scope (qualname)."""
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            yield statement, statement.name
        elif isinstance(statement, ast.ClassDef):
            for member in statement.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield member, f"{statement.name}.{member.name}"


def _fingerprint(node: ast.AST) -> str:
    """Of the code, not its layout or comments: a reformatted function keeps its results."""
    return hashlib.sha256(ast.unparse(node).encode()).hexdigest()[:16]


def discover() -> list[Mutant]:
    mutants = []
    for relative in target_files():
        tree = ast.parse((ROOT / relative).read_text(), relative)
        prints = {scope: _fingerprint(function) for function, scope in _functions(tree)}
        seen: dict[tuple[str, str], int] = {}
        for index, (node, scope, description, _) in enumerate(_candidates(tree)):
            occurrence = seen[scope, description] = seen.get((scope, description), -1) + 1
            fingerprint = prints.get(scope) or _fingerprint(_enclosing_module_statement(tree, node))
            mutant = Mutant(relative, getattr(node, "lineno", 0), scope, description, index, occurrence)
            mutant.fingerprint = fingerprint
            mutants.append(mutant)
    return mutants


def mutated_tree(mutant: Mutant) -> tuple[ast.Module, ast.AST]:
    tree = ast.parse((ROOT / mutant.file).read_text(), mutant.file)
    node, _, _, variant = list(_candidates(tree))[mutant.index]
    statement = _enclosing_module_statement(tree, node)
    tree = _Replace(node, variant).visit(tree)
    return ast.fix_missing_locations(tree), statement


def _enclosing_module_statement(tree: ast.Module, node: ast.AST) -> ast.AST:
    for statement in tree.body:
        if any(child is node for child in ast.walk(statement)):
            return statement
    raise LookupError(node)


# Applying a mutant, or the coverage probes, inside a forked child.


def _module_name(file: str) -> str:
    return file.removesuffix(".py").replace("/", ".")


def _find_code(code: CodeType, qualname: str) -> CodeType | None:
    for const in code.co_consts:
        if isinstance(const, CodeType):
            if const.co_qualname == qualname:
                return const
            found = _find_code(const, qualname)
            if found is not None:
                return found
    return None


def _live_function(module: ModuleType, qualname: str) -> Any:
    owner: Any = module
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    member = owner.__dict__[name] if path else getattr(owner, name)
    if isinstance(member, property):
        member = member.fget
    if isinstance(member, staticmethod | classmethod):
        member = member.__func__
    member = inspect.unwrap(member)
    # A decorator that keeps no __wrapped__ (login_required: dependency-injector's wiring would read through it)
    # leaves its wrapper under the handler's name: the handler is the one function in the wrapper's closure.
    while inspect.isfunction(member) and member.__code__.co_name != name and member.__closure__:
        inner = [cell.cell_contents for cell in member.__closure__ if inspect.isfunction(_cell(cell))]
        if len(inner) != 1:
            break
        member = inspect.unwrap(inner[0])
    return member


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def apply(mutant: Mutant) -> None:
    """Change the running code: the function's __code__, or a module-level constant, in place."""
    module = importlib.import_module(_module_name(mutant.file))
    tree, statement = mutated_tree(mutant)
    if mutant.scope == "<module>":
        old = {name: module.__dict__[name] for name in _assigned_names(statement)}
        assert isinstance(statement, ast.stmt)  # mutated in place by _Replace
        exec(compile(ast.Module([statement], []), mutant.file, "exec"), module.__dict__)  # noqa: S102
        for other in _importers(module, old):
            for name, value in old.items():
                if other.__dict__.get(name) is value:
                    other.__dict__[name] = module.__dict__[name]
        return
    code = _find_code(compile(tree, str(ROOT / mutant.file), "exec"), mutant.scope)
    if code is None:
        raise LookupError(f"no code object for {mutant.scope}")
    _live_function(module, mutant.scope).__code__ = code


def _assigned_names(statement: ast.AST) -> list[str]:
    targets = getattr(statement, "targets", None) or [getattr(statement, "target", None)]
    return [target.id for target in targets if isinstance(target, ast.Name)]


def _importers(module: ModuleType, names: dict[str, Any]) -> list[ModuleType]:
    """The other authsvc modules that imported one of these module constants by name."""
    return [
        other
        for other in list(sys.modules.values())
        if getattr(other, "__name__", "").startswith("authsvc")
        and other is not module
        and any(other.__dict__.get(name) is value for name, value in names.items())
    ]


PROBE = "__mutation_probe__"


def instrument(files: list[str], probe: Callable[[str], None]) -> set[str]:
    """A call of probe("file:scope") at the top of every function of these files (and of the functions nested in
    them), swapped into the live functions; returns the scopes that have one. Instead of a profiler: the tests run
    at their usual speed and allocate as usual, so what they do under the harness is what they do in pytest."""
    probed = set()
    for file in files:
        module = importlib.import_module(_module_name(file))
        tree = ast.parse((ROOT / file).read_text(), file)
        scopes = []
        for function, scope in _functions(tree):
            for inner in ast.walk(function):
                if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                    call = ast.Expr(ast.Call(ast.Name(PROBE, ast.Load()), [ast.Constant(f"{file}:{scope}")], []))
                    docstring = ast.get_docstring(inner, clean=False) is not None
                    inner.body.insert(1 if docstring else 0, ast.copy_location(call, inner.body[0]))
            scopes.append(scope)
        code = compile(ast.fix_missing_locations(tree), str(ROOT / file), "exec")
        module.__dict__[PROBE] = probe
        for scope in scopes:
            found = _find_code(code, scope)
            try:
                function = _live_function(module, scope)
                if found is None or len(found.co_freevars) != len(function.__code__.co_freevars):
                    continue
                function.__code__ = found
            except (AttributeError, KeyError, TypeError, ValueError):  # not a plain function at run time
                continue
            probed.add(f"{file}:{scope}")
    return probed


# Running: collect once, fork per mutant.


@dataclass
class Baseline:
    failed: str  # the first failing test's id, "" when all passed
    detail: str  # why it failed
    covering: dict[str, set[str]]  # "file:scope" -> the tests that run it
    probed: set[str]  # the scopes that have a probe; a mutant of any other runs every test
    durations: dict[str, float]  # test id -> seconds


class MutationPlugin:
    def __init__(
        self, mutants: list[Mutant], to_run: list[Mutant], jobs: int, timeout: float, baseline_only: bool = False
    ) -> None:
        self.mutants = mutants
        self.to_run = to_run
        self.jobs = jobs
        self.timeout = timeout
        self.baseline_only = baseline_only
        self.killers: dict[str, list[str]] = {}  # scope -> test ids that killed its mutants, most recent first
        self.baseline = Baseline("", "", {}, set(), {})
        self.ran = 0  # mutants run by this invocation
        self.baseline_seconds = 0.0

    @pytest.fixture(autouse=True)
    def _garbage_of_this_test(self) -> Iterator[None]:
        """Collected at the test's own teardown: a finalizer's warning fails the test that left the garbage. What
        survives is frozen, so the next collection walks only the next test's objects."""
        yield
        gc.collect()
        gc.freeze()

    def pytest_runtestloop(self, session: Any) -> bool:
        items = list(session.items)
        by_id = {item.nodeid: item for item in items}
        gc.collect()
        gc.freeze()  # what collection made stays out of every child's collections (and is shared, not copied)
        started_baseline = time.monotonic()
        self.baseline = self._baseline(items)
        self.baseline_seconds = time.monotonic() - started_baseline
        if self.baseline.failed:
            alone = self._alone(by_id[self.baseline.failed]) if self.baseline.failed in by_id else ""
            raise SystemExit(
                f"the fast tests fail without any mutant (first: {self.baseline.failed}; {alone}):\n"
                f"{self.baseline.detail}\nfix that first"
            )
        print(f"baseline: {len(items)} tests pass in {self.baseline_seconds:.0f}s", file=sys.__stderr__, flush=True)
        if self.baseline_only:
            return True
        for mutant in self.mutants:  # a kept kill whose test is gone (renamed, removed) is no kill any more
            if mutant.status == "killed" and mutant.killed_by not in by_id and mutant not in self.to_run:
                mutant.status, mutant.killed_by = "pending", ""
                self.to_run.append(mutant)
        pending = list(self.to_run)
        total = len(pending)
        running: dict[int, tuple[Mutant, float, float, int]] = {}
        started_all = saved = time.monotonic()
        while pending or running:
            if time.monotonic() - saved > 30:  # an interrupted run keeps what it found: --rerun-survivors resumes
                save_results(self.mutants)
                saved = time.monotonic()
            while pending and len(running) < self.jobs:
                mutant = pending.pop(0)
                ordered = self._tests_for(mutant, items, by_id)
                expected = sum(self.baseline.durations.get(item.nodeid, 0.0) for item in ordered)
                read_end, write_end = os.pipe()
                pid = os.fork()
                if pid == 0:  # the child
                    os.close(read_end)
                    self._child(mutant, ordered, write_end)
                os.close(write_end)
                # A hang is a run far past what its tests took in the baseline (a loaded machine is slow, not hung).
                running[pid] = (mutant, time.monotonic(), max(self.timeout, 5 * expected), read_end)
            time.sleep(0.02)
            for pid, (mutant, started, limit, read_end) in list(running.items()):
                finished, status = os.waitpid(pid, os.WNOHANG)
                if finished == 0 and time.monotonic() - started < limit:
                    continue
                if finished == 0:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    mutant.status, mutant.killed_by = "timeout", f"ran past {limit:.0f}s"
                else:
                    self._record(mutant, os.waitstatus_to_exitcode(status), read_end)
                mutant.seconds = round(time.monotonic() - started, 2)
                os.close(read_end)
                del running[pid]
                self.ran += 1
                elapsed = time.monotonic() - started_all
                print(f"[{self.ran}/{total}] {elapsed:6.0f}s {mutant.status:8} {mutant.file}:{mutant.line} "
                      f"{mutant.description[:70]}", file=sys.__stderr__, flush=True)  # fmt: skip
        return True

    def _tests_for(self, mutant: Mutant, items: list[Any], by_id: dict[str, Any]) -> list[Any]:
        """The tests that can see the mutant, those that killed its function's mutants first."""
        scope = f"{mutant.file}:{mutant.scope}"
        first = [by_id[n] for n in self.killers.get(scope, []) if n in by_id]
        if mutant.scope == "<module>":
            # a constant is read by its module's functions, or anywhere when another module imported it by name
            module = importlib.import_module(_module_name(mutant.file))
            names = _assigned_names(mutated_tree(mutant)[1])
            shared = _importers(module, {name: module.__dict__.get(name) for name in names})
            in_file = set().union(*(t for s, t in self.baseline.covering.items() if s.startswith(mutant.file + ":")))
            reading = [i for i in items if i.nodeid in in_file]  # the tests that run the file's code: likelier killers
            candidates = reading + [i for i in items if i.nodeid not in in_file] if shared else reading
        elif scope not in self.baseline.probed:
            candidates = items
        else:
            candidates = [i for i in items if i.nodeid in self.baseline.covering.get(scope, ())]
        return first + [item for item in candidates if item not in first]

    def _record(self, mutant: Mutant, code: int, read_end: int) -> None:
        output = b""
        while select.select([read_end], [], [], 0)[0]:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            output += chunk
        message = output.decode(errors="replace")
        scope = f"{mutant.file}:{mutant.scope}"
        uncovered = scope in self.baseline.probed and not self.baseline.covering.get(scope)
        if code == 0 and message == "survived" and uncovered:
            mutant.status, mutant.killed_by = "survived", "no test runs this code"
        elif code == 0 and message.startswith("killed:"):
            mutant.status, mutant.killed_by = "killed", message.removeprefix("killed:")
            self.killers.setdefault(scope, []).insert(0, mutant.killed_by)
        elif code == 0 and message == "survived":
            mutant.status, mutant.killed_by = "survived", ""
        else:
            mutant.status, mutant.killed_by = "error", message[:300]

    def _child(self, mutant: Mutant, items: list[Any], write_end: int) -> None:
        try:
            if items:
                _silence(items[0].config)
            try:
                apply(mutant)
            except Exception as exc:  # a mutant that cannot be applied is reported, not counted
                os.write(write_end, f"cannot apply: {type(exc).__name__}: {exc}".encode())
                os._exit(3)
            failed, _ = _run_items(items)
            os.write(write_end, (f"killed:{failed}" if failed else "survived").encode())
            os._exit(0)
        finally:
            os._exit(4)

    def _baseline(self, items: list[Any]) -> Baseline:
        """Run every test once without a mutant, in a child (the parent stays unused), with the probes noting
        which tests run which function of the security core."""
        handle, name = tempfile.mkstemp(prefix="mutate-baseline-", suffix=".json")
        os.close(handle)
        output = Path(name)
        pid = os.fork()
        if pid == 0:
            _silence(items[0].config)
            covering: dict[str, set[str]] = {}
            current = [""]

            def probe(scope: str) -> None:
                covering.setdefault(scope, set()).add(current[0])

            probed = instrument(sorted({m.file for m in self.mutants}), probe)
            durations: dict[str, float] = {}
            failed, detail = _run_items(items, current, durations)
            result = {"failed": failed, "detail": detail, "durations": durations, "probed": sorted(probed)}
            output.write_text(json.dumps({**result, "covering": {k: sorted(v) for k, v in covering.items()}}))
            os._exit(0)
        os.waitpid(pid, 0)
        text = output.read_text()
        output.unlink()
        if not text:
            return Baseline("the baseline crashed", "", {}, set(), {})
        result = json.loads(text)
        covering = {scope: set(tests) for scope, tests in result["covering"].items()}
        return Baseline(result["failed"], result["detail"], covering, set(result["probed"]), result["durations"])

    @staticmethod
    def _alone(item: Any) -> str:
        """Run one test by itself in a fresh child: does it fail alone, or only after the others?"""
        pid = os.fork()
        if pid == 0:
            _silence(item.config)
            failed, _ = _run_items([item])
            os._exit(1 if failed else 0)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) == 0:
            return "it passes alone: it depends on what an earlier test left (state, garbage, time)"
        return "it fails alone too"


def _run_items(
    items: list[Any], current: list[str] | None = None, durations: dict[str, float] | None = None
) -> tuple[str, str]:
    """Run the tests in order until one fails: its id and its report's text, or ("", "")."""
    if not items:
        return "", ""
    session = items[0].session
    reports: list[Any] = []

    class Failures:
        @staticmethod
        def pytest_runtest_logreport(report: Any) -> None:
            if report.failed:
                reports.append(report)

    session.config.pluginmanager.register(Failures())
    for position, item in enumerate(items):
        if current is not None:
            current[0] = item.nodeid
        before = session.testsfailed
        following = items[position + 1] if position + 1 < len(items) else None
        started = time.monotonic()
        item.config.hook.pytest_runtest_protocol(item=item, nextitem=following)
        if durations is not None:
            durations[item.nodeid] = round(time.monotonic() - started, 4)
        if session.testsfailed > before or reports:
            detail = "\n".join(f"[{r.when}] {r.longreprtext[-2000:]}" for r in reports)
            return str(item.nodeid), detail
    return "", ""


def _silence(config: Any) -> None:
    """No test output from a child: the terminal reporter writes to a copy of the original stdout."""
    from _pytest._io import TerminalWriter

    devnull = open(os.devnull, "w")  # noqa: SIM115 (the child exits with it open)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter._tw = TerminalWriter(devnull)
    os.dup2(devnull.fileno(), 1)
    os.dup2(devnull.fileno(), 2)


# The report.


def write_report(mutants: list[Mutant], run: RunInfo, notes: list[str] | None = None) -> None:
    counted = [m for m in mutants if m.status in {"killed", "timeout", "survived"}]
    killed = [m for m in counted if m.status in {"killed", "timeout"}]
    equivalent = [m for m in counted if m.status == "survived" and m.key in EQUIVALENT]
    survivors = [m for m in counted if m.status == "survived" and m.key not in EQUIVALENT]
    errors = [m for m in mutants if m.status == "error"]
    not_run = [m for m in mutants if m.status == "pending"]
    score = len(killed) / len(counted) if counted else 0.0
    cost = sum(m.seconds for m in mutants)
    lines = [
        "# Mutation score of the security core",
        "",
        "Written by `make mutate` (tools/mutate.py); do not edit by hand. Security core: "
        + ", ".join(f"`{t}`" for t in TARGETS)
        + ". Tests: the fast ones (tests/unit, tests/http and the memory backend's contract tests).",
        "",
        f"- mutants: {len(mutants)} ({len(errors)} could not be applied and are not counted"
        + (f"; **{len(not_run)} not run yet**" if not_run else "")
        + ")",
        f"- killed: {len(killed)} of {len(counted)}: **{score:.1%}** (timeouts count as killed)",
        f"- equivalent (listed below with the reason no test can tell them apart): {len(equivalent)}",
        f"- survivors not explained: {len(survivors)}",
        f"- last run: {run.describe()}",
        f"- every mutant's child together: {cost / 60:.1f} minutes (a full run: about"
        f" {cost / 60 / run.jobs:.1f} minutes on {run.jobs} jobs, plus the baseline)",
        *(f"- {note}" for note in notes or []),
        "",
        "| file | mutants | killed | survived | minutes |",
        "|---|---|---|---|---|",
    ]
    for file in sorted({m.file for m in counted}):
        in_file = [m for m in counted if m.file == file]
        alive = sum(m.status == "survived" for m in in_file)
        minutes = sum(m.seconds for m in in_file) / 60
        lines.append(f"| `{file}` | {len(in_file)} | {len(in_file) - alive} | {alive} | {minutes:.1f} |")
    lines += ["", "## Survivors", ""]
    lines += [
        f"- `{m.file}:{m.line}` `{m.scope}`: {m.description}{f' ({m.killed_by})' if m.killed_by else ''}"
        for m in survivors
    ] or ["None."]
    lines += ["", "## Equivalent mutants", ""]
    lines += [f"- `{m.file}:{m.line}` `{m.scope}`: {m.description}: {EQUIVALENT[m.key]}" for m in equivalent] or [
        "None."
    ]
    if errors:
        lines += ["", "## Not applied", ""]
        lines += [f"- `{m.file}:{m.line}` `{m.scope}`: {m.description}: {m.killed_by}" for m in errors]
    if not_run:
        lines += ["", "## Not run yet", ""]
        lines += [f"- `{file}`: {sum(m.file == file for m in not_run)}" for file in sorted({m.file for m in not_run})]
    REPORT.write_text("\n".join(lines) + "\n")
    save_results(mutants)
    print(f"{score:.1%} killed ({len(killed)}/{len(counted)}), {len(survivors)} unexplained; see {REPORT}")


def save_results(mutants: list[Mutant]) -> None:
    RESULTS.write_text(json.dumps([asdict(m) for m in mutants], indent=1) + "\n")


@dataclass
class RunInfo:
    jobs: int
    seconds: float
    baseline_seconds: float
    ran: int
    options: str

    def describe(self) -> str:
        if self.options.startswith("--report"):
            return "none: this report was rewritten by `--report` from docs/mutation.json"
        return (
            f"{self.seconds / 60:.1f} minutes ({self.baseline_seconds:.0f} s of it the baseline), {self.ran} mutants"
            f" run on {self.jobs} jobs" + (f" with `{self.options}`" if self.options else "")
        )


def _previous_results() -> dict[str, dict[str, Any]]:
    if not RESULTS.exists():
        return {}
    fields = set(Mutant.__dataclass_fields__)
    mutants = [Mutant(**{k: v for k, v in m.items() if k in fields}) for m in json.loads(RESULTS.read_text())]
    return {m.key: asdict(m) for m in mutants}


def choose(mutants: list[Mutant], only: list[str], rerun_survivors: bool) -> list[Mutant]:
    """Which mutants run: the selected files' (all, or with --rerun-survivors those without a kept kill); the
    others keep their last result. A result is kept only while the mutated code's fingerprint is the same."""
    previous = _previous_results()
    to_run = []
    for mutant in mutants:
        selected = not only or any(part in mutant.file for part in only)
        old = previous.get(mutant.key)
        if old is not None and old["fingerprint"] == mutant.fingerprint and old["status"] != "pending":
            kept_kill = rerun_survivors and old["status"] in {"killed", "timeout"}
            if not selected or kept_kill:
                mutant.status, mutant.killed_by, mutant.seconds = old["status"], old["killed_by"], old["seconds"]
        if selected and mutant.status == "pending":
            to_run.append(mutant)
    return to_run


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before a mutant counts as a hang (at least 5x its tests)"
    )
    parser.add_argument(
        "--rerun-survivors",
        action="store_true",
        help="keep the last run's kills of unchanged code; run survivors, new and changed mutants",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PART",
        help="only the mutants of files whose path contains PART (repeatable); the others keep their last results",
    )
    parser.add_argument("--baseline-only", action="store_true", help="only check the fast tests pass under the harness")
    parser.add_argument(
        "--report", action="store_true", help="run nothing: rewrite docs/mutation.md from docs/mutation.json"
    )
    parser.add_argument(
        "--note", action="append", default=[], help="with --report: a line for the report (e.g. what was not run)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    mutants = discover()
    if args.report:  # e.g. after an interrupted run, or after explaining an equivalent mutant
        choose(mutants, ["\0"], rerun_survivors=False)
        run = RunInfo(args.jobs, 0.0, 0.0, 0, "--report (rewritten from docs/mutation.json)")
        write_report(mutants, run, args.note)
        return 0
    to_run = choose(mutants, args.only, args.rerun_survivors)
    print(f"{len(to_run)} of {len(mutants)} mutants to run", file=sys.__stderr__, flush=True)
    started = time.monotonic()
    plugin = MutationPlugin(mutants, to_run, args.jobs, args.timeout, args.baseline_only)
    pytest_args = [*TESTS, "-q", "-p", "no:cacheprovider", "-m", "not mongodb and not e2e", "--no-header"]
    code = pytest.main(pytest_args, plugins=[plugin])
    if args.baseline_only or (code not in (0, 5) and any(m.status == "pending" for m in to_run)):
        return int(code)
    options = " ".join(sys.argv[1:])
    write_report(mutants, RunInfo(args.jobs, time.monotonic() - started, plugin.baseline_seconds, plugin.ran, options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
