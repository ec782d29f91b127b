"""Mutation testing of the security core: does a test fail when the code is changed a little?

    python tools/mutate.py [--jobs 2] [--timeout 120] [--rerun-survivors]     (or: make mutate)

Our own small mutator, because mutmut 3 copies the tree into mutants/ and trampolines every function, which this
layout (dependency-injector wiring, decorated handlers) does not survive. This one

- walks the AST of each file of the security core (auth/, middlewares.py, bodies.py, storage/memory.py) and makes
  one mutant per candidate: a comparison flipped (``<`` -> ``<=``, ``==`` -> ``!=``, ``in`` -> ``not in``), ``and``
  <-> ``or``, a ``not`` dropped, ``+`` <-> ``-`` (and ``*``, ``/``, ``//``), ``True`` <-> ``False``, an integer
  plus one, an ``if``/``while`` test made ``True`` or ``False``, a call statement deleted, an element dropped from
  a literal set/list/tuple of a module constant;
- collects the fast tests once (tests/unit and the memory backend's contract tests), then forks per mutant: the
  child swaps the mutated function's ``__code__`` in place (so every reference, wired or imported, runs the
  mutant), runs the tests until one fails and reports which; tests that killed a mutant of the same function run
  first, so most mutants die in their first test;
- writes the score and every survivor to docs/mutation.md (and docs/mutation.json for --rerun-survivors).

Survivors that cannot be killed because they change nothing observable are listed in EQUIVALENT below, each with
its reason. Not part of CI (minutes, not seconds); run it before resolving a security issue.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import os
import select
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["authsvc/auth", "authsvc/middlewares.py", "authsvc/bodies.py", "authsvc/storage/memory.py"]
TESTS = ["tests/unit", "tests/contract/test_services_contract.py", "tests/contract/test_storage_contract.py"]
REPORT = ROOT / "docs" / "mutation.md"
RESULTS = ROOT / "docs" / "mutation.json"

# file:function:mutation -> why no test can tell the mutant from the original.
EQUIVALENT: dict[str, str] = {
    "authsvc/auth/service.py:AuthService._check_password:`False` -> `True`": (
        "login() also requires `user is not None` (the type checker needs it), so the answer for no user is unused"
    ),
    "authsvc/storage/memory.py:MemoryUserRepository.find_by_username:`user_id` -> True": (
        "`dict.get(None)` is None as well: the guard only spares a look-up"
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
    status: str = "pending"  # killed, survived, timeout, error
    killed_by: str = ""

    @property
    def key(self) -> str:
        """What names the mutant across runs (line numbers move): scope, change, and which of equal changes."""
        return f"{self.file}:{self.scope}:{self.description}" + (f"#{self.occurrence}" if self.occurrence else "")


# Finding the candidates.

Candidate = tuple[ast.AST, str, str, int]  # node, scope, description, variant


def _candidates(tree: ast.Module) -> Iterator[Candidate]:
    """(node, scope, description, variant) for every mutation of this module, in a fixed order."""
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _in_function(statement, statement.name)
        elif isinstance(statement, ast.ClassDef):
            for member in statement.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield from _in_function(member, f"{statement.name}.{member.name}")
        elif isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
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


def discover() -> list[Mutant]:
    mutants = []
    for target in TARGETS:
        path = ROOT / target
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            relative = str(file.relative_to(ROOT))
            tree = ast.parse(file.read_text(), relative)
            seen: dict[tuple[str, str], int] = {}
            for index, (node, scope, description, _) in enumerate(_candidates(tree)):
                occurrence = seen[scope, description] = seen.get((scope, description), -1) + 1
                mutants.append(Mutant(relative, getattr(node, "lineno", 0), scope, description, index, occurrence))
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


# Applying a mutant inside the forked child.


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
    return inspect.unwrap(member)


def apply(mutant: Mutant) -> None:
    """Change the running code: the function's __code__, or a module-level constant, in place."""
    module = importlib.import_module(_module_name(mutant.file))
    tree, statement = mutated_tree(mutant)
    if mutant.scope == "<module>":
        targets = getattr(statement, "targets", None) or [getattr(statement, "target", None)]
        old = {t.id: module.__dict__[t.id] for t in targets if isinstance(t, ast.Name)}
        assert isinstance(statement, ast.stmt)  # mutated in place by _Replace
        exec(compile(ast.Module([statement], []), mutant.file, "exec"), module.__dict__)  # noqa: S102
        for other in list(sys.modules.values()):  # modules that imported the constant by name
            if getattr(other, "__name__", "").startswith("authsvc") and other is not module:
                for name, value in old.items():
                    if other.__dict__.get(name) is value:
                        other.__dict__[name] = module.__dict__[name]
        return
    code = _find_code(compile(tree, str(ROOT / mutant.file), "exec"), mutant.scope)
    if code is None:
        raise LookupError(f"no code object for {mutant.scope}")
    _live_function(module, mutant.scope).__code__ = code


# Running: collect once, fork per mutant.


class MutationPlugin:
    def __init__(self, mutants: list[Mutant], jobs: int, timeout: float) -> None:
        self.mutants = mutants
        self.jobs = jobs
        self.timeout = timeout
        self.killers: dict[str, list[str]] = {}  # scope -> test ids that killed its mutants, most recent first
        self.covering: dict[str, set[str]] = {}  # scope -> test ids that run its code (from the baseline)

    def pytest_runtestloop(self, session: Any) -> bool:
        items = list(session.items)
        by_id = {item.nodeid: item for item in items}
        baseline = self._baseline(items)
        if baseline != "":
            raise SystemExit(f"the fast tests fail without any mutant (first: {baseline}); fix that first")
        pending = [m for m in self.mutants if m.status == "pending"]
        running: dict[int, tuple[Mutant, float, int]] = {}
        started_all = time.monotonic()
        done = 0
        while pending or running:
            while pending and len(running) < self.jobs:
                mutant = pending.pop(0)
                scope = f"{mutant.file}:{mutant.scope}"
                first = [by_id[n] for n in self.killers.get(scope, []) if n in by_id]
                # a module constant may be read anywhere: every test; a function: the tests that run it
                candidates = (
                    items
                    if mutant.scope == "<module>"
                    else [i for i in items if i.nodeid in self.covering.get(scope, ())]
                )
                ordered = first + [item for item in candidates if item not in first]
                read_end, write_end = os.pipe()
                pid = os.fork()
                if pid == 0:  # the child
                    os.close(read_end)
                    self._child(mutant, ordered, write_end)
                os.close(write_end)
                running[pid] = (mutant, time.monotonic(), read_end)
            time.sleep(0.02)
            for pid, (mutant, started, read_end) in list(running.items()):
                finished, status = os.waitpid(pid, os.WNOHANG)
                if finished == 0 and time.monotonic() - started < self.timeout:
                    continue
                if finished == 0:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    mutant.status = "timeout"
                else:
                    self._record(mutant, os.waitstatus_to_exitcode(status), read_end)
                os.close(read_end)
                del running[pid]
                done += 1
                elapsed = time.monotonic() - started_all
                print(f"[{done}/{len(self.mutants)}] {elapsed:6.0f}s {mutant.status:8} {mutant.file}:{mutant.line} "
                      f"{mutant.description[:70]}", file=sys.__stderr__, flush=True)  # fmt: skip
        return True

    def _record(self, mutant: Mutant, code: int, read_end: int) -> None:
        output = b""
        while select.select([read_end], [], [], 0)[0]:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            output += chunk
        message = output.decode(errors="replace")
        uncovered = mutant.scope != "<module>" and not self.covering.get(f"{mutant.file}:{mutant.scope}")
        if code == 0 and message == "survived" and uncovered:
            mutant.status, mutant.killed_by = "survived", "no test runs this code"
        elif code == 0 and message.startswith("killed:"):
            mutant.status, mutant.killed_by = "killed", message.removeprefix("killed:")
            self.killers.setdefault(f"{mutant.file}:{mutant.scope}", []).insert(0, mutant.killed_by)
        elif code == 0 and message == "survived":
            mutant.status = "survived"
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
            failed = self._run_items(items)
            os.write(write_end, (f"killed:{failed}" if failed else "survived").encode())
            os._exit(0)
        finally:
            os._exit(4)

    def _baseline(self, items: list[Any]) -> str:
        """Run every test once without a mutant, in a child (the parent stays unused), noting which tests run
        which function of the security core; the first failing test's id, or "" when all pass."""
        files = {str(ROOT / m.file): m.file for m in self.mutants}
        handle, name = tempfile.mkstemp(prefix="mutate-coverage-", suffix=".json")
        os.close(handle)
        output = Path(name)
        pid = os.fork()
        if pid == 0:
            _silence(items[0].config)
            covering: dict[str, set[str]] = {}
            current = [""]

            def profile(frame: Any, event: str, arg: Any) -> None:
                if event == "call" and (file := files.get(frame.f_code.co_filename)):
                    scope = frame.f_code.co_qualname.split(".<locals>")[0]
                    covering.setdefault(f"{file}:{scope}", set()).add(current[0])

            threading.setprofile(profile)
            sys.setprofile(profile)
            failed = self._run_items(items, current)
            sys.setprofile(None)
            output.write_text(json.dumps({"failed": failed, "covering": {k: sorted(v) for k, v in covering.items()}}))
            os._exit(0)
        os.waitpid(pid, 0)
        if not output.read_text():
            return "the baseline crashed"
        result = json.loads(output.read_text())
        output.unlink()
        self.covering = {scope: set(tests) for scope, tests in result["covering"].items()}
        return str(result["failed"])

    @staticmethod
    def _run_items(items: list[Any], current: list[str] | None = None) -> str:
        if not items:
            return ""
        session = items[0].session
        for position, item in enumerate(items):
            if current is not None:
                current[0] = item.nodeid
            before = session.testsfailed
            following = items[position + 1] if position + 1 < len(items) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=following)
            if session.testsfailed > before:
                return str(item.nodeid)
        return ""


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


def write_report(mutants: list[Mutant], seconds: float, rerun: bool) -> None:
    counted = [m for m in mutants if m.status != "error"]
    killed = [m for m in counted if m.status in {"killed", "timeout"}]
    equivalent = [m for m in counted if m.status == "survived" and m.key in EQUIVALENT]
    survivors = [m for m in counted if m.status == "survived" and m.key not in EQUIVALENT]
    errors = [m for m in mutants if m.status == "error"]
    score = len(killed) / len(counted) if counted else 0.0
    lines = [
        "# Mutation score of the security core",
        "",
        "Written by `make mutate` (tools/mutate.py); do not edit by hand. Security core: "
        + ", ".join(f"`{t}`" for t in TARGETS)
        + ". Tests: the fast ones (tests/unit and the memory backend's contract tests).",
        "",
        f"- mutants: {len(mutants)} ({len(errors)} could not be applied and are not counted)",
        f"- killed: {len(killed)} of {len(counted)}: **{score:.1%}** (timeouts count as killed)",
        f"- equivalent (listed below with the reason no test can tell them apart): {len(equivalent)}",
        f"- survivors not explained: {len(survivors)}",
        f"- run time: {seconds / 60:.1f} minutes"
        + (
            " (--rerun-survivors: only the last survivors and new mutants ran; the others keep their kill)"
            if rerun
            else ""
        ),
        "",
        "| file | mutants | killed | survived |",
        "|---|---|---|---|",
    ]
    for file in sorted({m.file for m in counted}):
        in_file = [m for m in counted if m.file == file]
        alive = sum(m.status == "survived" for m in in_file)
        lines.append(f"| `{file}` | {len(in_file)} | {len(in_file) - alive} | {alive} |")
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
    REPORT.write_text("\n".join(lines) + "\n")
    RESULTS.write_text(json.dumps([asdict(m) for m in mutants], indent=1) + "\n")
    print(f"{score:.1%} killed ({len(killed)}/{len(counted)}), {len(survivors)} unexplained; see {REPORT}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a mutant counts as a hang")
    parser.add_argument("--rerun-survivors", action="store_true", help="only re-test the last run's survivors")
    parser.add_argument("--only", help="only mutants whose file contains this")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    mutants = discover()
    if args.rerun_survivors:
        previous = {Mutant(**{k: v for k, v in m.items()}).key: m for m in json.loads(RESULTS.read_text())}
        for mutant in mutants:
            if (old := previous.get(mutant.key)) and old["status"] != "survived":
                mutant.status, mutant.killed_by = old["status"], old["killed_by"]
    if args.only:
        for mutant in mutants:
            if args.only not in mutant.file:
                mutant.status = "error"
                mutant.killed_by = "not selected (--only)"
    import pytest

    started = time.monotonic()
    plugin = MutationPlugin(mutants, args.jobs, args.timeout)
    pytest_args = [*TESTS, "-q", "-p", "no:cacheprovider", "-m", "not mongodb and not e2e", "--no-header"]
    code = pytest.main(pytest_args, plugins=[plugin])
    if code not in (0, 5) and any(m.status == "pending" for m in mutants):
        return int(code)
    write_report(mutants, time.monotonic() - started, args.rerun_survivors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
