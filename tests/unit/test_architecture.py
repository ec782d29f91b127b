"""The module graph of authsvc/ has no circle (import-linter's contracts in pyproject.toml pin the layers)."""

from __future__ import annotations

import grimp


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
