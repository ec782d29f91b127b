"""Every shipped gateway example routes every public path of the app to authsvc: the list comes from the app's own
route table (`authsvc routes --public`), so a new page left out of deploy/nginx, deploy/traefik or deploy/caddy
fails here. Each example is read the way its gateway reads it (nginx's location choice, Traefik's Path/PathPrefix
rule, Caddy's path matcher); the e2e tests then run nginx and Caddy for real."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from tests.helpers import ROOT

NGINX = ROOT / "deploy" / "nginx" / "authsvc.conf"
TRAEFIK = ROOT / "deploy" / "traefik" / "dynamic.yml"
CADDY = ROOT / "deploy" / "caddy" / "Caddyfile"
NGINX_AUTHSVC = "proxy_pass http://authsvc_backend"


def public_paths() -> list[str]:
    """What the command line prints, run as an operator runs it."""
    printed = subprocess.run(
        [sys.executable, "-m", "authsvc", "routes", "--public"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    # A request path for each route: a placeholder becomes a sample value ({tail} may be empty).
    return [
        re.sub(r"\{[a-z]+\}", "", path) if "{tail}" in path else re.sub(r"\{[a-z]+\}", "x1", path) for path in printed
    ]


def nginx_locations(text: str) -> list[tuple[str, str, str]]:
    """(modifier, pattern, body) of each location block, in file order."""
    found = []
    for match in re.finditer(r"^\s*location\s+(=|~\*|~|\^~)?\s*(\S+)\s*\{", text, re.M):
        depth, end = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        found.append((match.group(1) or "", match.group(2), text[match.end() : end]))
    return found


def nginx_location_for(text: str, path: str) -> str:
    """The body of the location nginx picks: exact, then the longest prefix unless ^~, then the first regex."""
    locations = [loc for loc in nginx_locations(text) if not loc[1].startswith("@")]
    for modifier, pattern, body in locations:
        if modifier == "=" and pattern == path:
            return body
    prefixes = [loc for loc in locations if loc[0] in ("", "^~") and path.startswith(loc[1])]
    longest = max(prefixes, key=lambda loc: len(loc[1]), default=None)
    if longest is not None and longest[0] == "^~":
        return longest[2]
    for modifier, pattern, body in locations:
        if modifier in ("~", "~*") and re.search(pattern, path, re.I if modifier == "~*" else 0):
            return body
    assert longest is not None, f"no nginx location for {path}"
    return longest[2]


def nginx_unrouted(text: str, paths: list[str]) -> list[str]:
    return [path for path in paths if NGINX_AUTHSVC not in nginx_location_for(text, path)]


def traefik_unrouted(text: str, paths: list[str]) -> list[str]:
    rule = yaml.safe_load(text)["http"]["routers"]["authsvc"]["rule"]
    terms = re.split(r"\s*\|\|\s*", rule.strip())
    matchers = [re.fullmatch(r"(Path|PathPrefix)\(`([^`]+)`\)", term) for term in terms]
    assert all(matchers), f"authsvc's rule has terms this check does not read: {rule}"

    def routed(path: str) -> bool:
        return any(path == m[2] if m[1] == "Path" else path.startswith(m[2]) for m in matchers if m)

    return [path for path in paths if not routed(path)]


def caddy_unrouted(text: str, paths: list[str]) -> list[str]:
    matcher = re.search(r"^\s*@authsvc\s+path\s+(.+)$", text, re.M)
    assert matcher, "the Caddyfile has no `@authsvc path ...` matcher"
    handled = re.search(r"handle @authsvc \{\s*reverse_proxy authsvc:8080", text)
    assert handled, "@authsvc is not handled by reverse_proxy to authsvc"
    patterns = matcher.group(1).split("#")[0].split()

    def routed(path: str) -> bool:
        return any(path.startswith(p[:-1]) if p.endswith("*") else path == p for p in patterns)

    return [path for path in paths if not routed(path)]


CHECKS = {"nginx": (NGINX, nginx_unrouted), "traefik": (TRAEFIK, traefik_unrouted), "caddy": (CADDY, caddy_unrouted)}


@pytest.fixture(scope="module")
def paths() -> list[str]:
    return public_paths()


def test_route_list_names_the_portal_pages_and_the_json_routes(paths: list[str]) -> None:
    for page in ("/login", "/login/mfa", "/signup", "/forgot", "/reset", "/verify-email", "/not-me", "/account"):
        assert page in paths
    assert "/portal/static/passkeys.js" in paths and "/users/login" in paths and "/auth/verify" in paths
    for inside in ("/metrics", "/readyz", "/healthz", "/internal/sessions/introspect", "/docs"):
        assert inside not in paths


@pytest.mark.parametrize("gateway", sorted(CHECKS))
def test_every_shipped_gateway_routes_every_public_path(gateway: str, paths: list[str]) -> None:
    path, unrouted = CHECKS[gateway]
    assert unrouted(path.read_text(), paths) == []


@pytest.mark.parametrize("gateway", sorted(CHECKS))
def test_a_page_left_out_of_a_gateway_is_caught(gateway: str, paths: list[str]) -> None:
    path, unrouted = CHECKS[gateway]
    text = path.read_text()
    # A page the example does not know yet: the check names it.
    assert unrouted(text, [*paths, "/brand-new-page"]) == ["/brand-new-page"]


def test_nginx_sends_an_unrouted_page_to_the_protected_app() -> None:
    text = NGINX.read_text().replace("|forgot|", "|")
    assert nginx_unrouted(text, ["/forgot", "/login"]) == ["/forgot"]
