"""What every request passes through: request id, problem+json, security headers, metrics, access log (the Edge);
CSRF; the forwarded-header rules."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Protocol, TypeVar, overload

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware
from aiohttp_remotes import XForwardedFiltered
from aiohttp_remotes.exceptions import RemoteError, UntrustedIP
from aiohttp_remotes.utils import check_ip, parse_trusted_element
from multidict import CIMultiDict, MultiMapping
from yarl import URL

from authsvc.deadline import request_deadline
from authsvc.errors import BadRequest, Forbidden, Problem
from authsvc.logs import access_log, request_id_var
from authsvc.metrics import Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])


class Asked(Protocol):
    """What the edge and the gateway's check read of a request: aiohttp's web.Request has it, and so has the gateway
    listener's own request (gateway_listener.py), which is not an aiohttp request."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def headers(self) -> MultiMapping[str]: ...
    @property
    def scheme(self) -> str: ...
    @property
    def secure(self) -> bool: ...
    @property
    def host(self) -> str: ...
    @property
    def remote(self) -> str | None: ...
    @property
    def transport(self) -> asyncio.Transport | None: ...


A = TypeVar("A", bound=Asked)

log = logging.getLogger("authsvc")

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# OWASP REST Security Cheat Sheet headers for an API that serves no HTML.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"
# The same, as the header lines the Edge appends to a Headed answer.
SECURITY_LINES = "".join(f"{name}: {value}\r\n" for name, value in SECURITY_HEADERS.items()).encode()
HSTS_LINE = f"Strict-Transport-Security: {HSTS}\r\n".encode()
EDGE_HEADERS = frozenset(name.lower() for name in (*SECURITY_HEADERS, "X-Request-Id", "Strict-Transport-Security"))


class Headed:
    """A 200 whose header lines are bytes already: the gateway listener's answer for a signed-in user, the answer
    that dominates its traffic, with no web.Response to build, fill and render. The Edge appends its lines (the
    security headers, the request id, HSTS) in the order it sets them on a web.Response, and close while it drains;
    the listener adds what aiohttp's writer would (the status line, Content-Length, Date, Connection)."""

    __slots__ = ("close", "lines")
    status = 200

    def __init__(self, lines: bytes, close: bool = False) -> None:
        self.lines, self.close = lines, close


CSRF_EXEMPT = "__authsvc_csrf_exempt__"
CSRF_CHECKED = "__authsvc_csrf_checked__"
GATEWAY_CHECK = "__authsvc_gateway_check__"


def csrf_exempt(handler: H) -> H:
    """The route changes no browser state on a cookie's say-so (a service token, or a read-only check)."""
    setattr(handler, CSRF_EXEMPT, True)
    return handler


def csrf_checked(handler: H) -> H:
    """The route changes state even on a safe method (the tutorial's GET /users/logout): checked like a POST."""
    setattr(handler, CSRF_CHECKED, True)
    return handler


def gateway_check(handler: H) -> H:
    """The check a gateway makes for every request it routes: read-only whatever the method (Envoy forwards the
    original one), so CSRF-exempt, and out of the access log unless server.access_log_verify (the gateway logs it)."""
    setattr(handler, GATEWAY_CHECK, True)
    return csrf_exempt(handler)


def _marked(request: web.Request, mark: str) -> bool:
    return getattr(request.match_info.handler, mark, False)


def problem_response(problem: Problem, request: Asked) -> web.Response:
    return web.json_response(
        problem.body(instance=request.path),
        status=problem.status,
        headers=problem.headers,
        content_type="application/problem+json",
    )


def _from_http_exception(exc: web.HTTPException) -> Problem:
    problem = Problem(exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None)
    problem.status, problem.title = exc.status, exc.reason
    if "Allow" in exc.headers:
        problem.headers["Allow"] = exc.headers["Allow"]
    return problem


class RequestIds:
    """The ids the Edge makes up for requests that bring none: 16 hex characters, a random half drawn once per
    process (again in a forked child) and a counter, unique within the process without a system call per request
    (secrets.token_hex was one on every answer). An id correlates log lines and events; it is no secret."""

    def __init__(self) -> None:
        self._draw()
        os.register_at_fork(after_in_child=self._draw)

    def _draw(self) -> None:
        self._prefix = secrets.token_hex(4)
        self._count = itertools.count(secrets.randbelow(1 << 32))

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFFFFFF:08x}"


new_request_id = RequestIds()


class Drain:
    """Whether the process is draining: SIGTERM came, it still serves (serving.run), /readyz answers 503 and every
    answer closes its connection, so gateways stop routing to it and drop their idle connections first."""

    def __init__(self) -> None:
        self.draining = False


DRAIN = web.AppKey("drain", Drain)


class Edge:
    """What every answer gets, in one place: a request id, problem+json for errors, the security headers, the
    latency metric and the access-log line, `Connection: close` while draining, and the request's storage deadline.
    The generic middleware and the gateway's fast path both serve through it.
    """

    def __init__(
        self,
        metrics: Metrics,
        access_log: bool,
        access_log_verify: bool,
        *,
        drain: Drain | None = None,
        storage_deadline: float | None = None,
    ) -> None:
        self._metrics = metrics
        self._access_log = access_log
        self._access_log_verify = access_log_verify
        self._drain = drain or Drain()
        self._storage_deadline = storage_deadline

    @overload
    async def serve(
        self, request: A, handler: Callable[[A], Awaitable[web.StreamResponse]], *, gateway_check: bool, route: str
    ) -> web.StreamResponse: ...

    @overload
    async def serve(
        self,
        request: A,
        handler: Callable[[A], Awaitable[web.StreamResponse | Headed]],
        *,
        gateway_check: bool,
        route: str,
    ) -> web.StreamResponse | Headed: ...

    async def serve(
        self,
        request: A,
        handler: Callable[[A], Awaitable[web.StreamResponse | Headed]],
        *,
        gateway_check: bool,
        route: str,
    ) -> web.StreamResponse | Headed:
        """handler's answer (or its error's problem+json) with the edge's headers, counted and logged under route
        (the router's match, or "unmatched"; the gateway listener has no router and names its own). A Headed answer
        (the gateway listener's) gets the same headers as lines."""
        started = time.perf_counter()
        given = request.headers.get("X-Request-Id")
        request_id = given if given and REQUEST_ID_PATTERN.fullmatch(given) else new_request_id()
        token = request_id_var.set(request_id)
        try:
            try:
                with request_deadline(self._storage_deadline):
                    response = await handler(request)
            except Problem as problem:  # every error becomes problem+json: no HTML page, no stack trace, ever
                response = problem_response(problem, request)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                response = problem_response(_from_http_exception(exc), request)
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception:
                log.exception("unhandled error")
                response = problem_response(Problem("The server could not handle the request."), request)
            if isinstance(response, Headed):  # its handler set none of these (GatewayCheck.answer_headed)
                lines = response.lines + SECURITY_LINES + b"X-Request-Id: " + request_id.encode() + b"\r\n"
                response = Headed(lines + HSTS_LINE if request.secure else lines, self._drain.draining)
            else:
                headers = response.headers
                for name, value in SECURITY_HEADERS.items():  # a handler may choose its own (the docs' CSP)
                    headers.setdefault(name, value)
                headers["X-Request-Id"] = request_id
                if self._drain.draining:
                    response.force_close()  # Connection: close: the client opens its next connection elsewhere
                if request.secure:
                    headers["Strict-Transport-Security"] = HSTS
            elapsed = time.perf_counter() - started
            self._metrics.observe_request(request.method, route, response.status, elapsed)
            if self._access_log and (self._access_log_verify or not gateway_check):
                access_log.request(
                    method=request.method,
                    path=request.path,  # never the query string: it may carry secrets
                    status=response.status,
                    duration_ms=round(elapsed * 1000, 2),
                    ip=client_address(request),
                )
            return response
        finally:
            request_id_var.reset(token)

    def middleware(self) -> Middleware:
        @web.middleware
        async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
            route = routed_as(request)
            return await self.serve(request, handler, gateway_check=_marked(request, GATEWAY_CHECK), route=route)

        return edge


def routed_as(request: web.Request) -> str:
    """The route's label in metrics: the router's pattern, or "unmatched"."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _origin_of(referer: str) -> str:
    try:
        return str(URL(referer).origin())
    except ValueError:
        return "null"


def _under_domain(origin: str, domain: str, https_only: bool) -> bool:
    scheme, _, host = origin.partition("://")
    host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return (scheme == "https" or (scheme == "http" and not https_only)) and (
        host == domain or host.endswith("." + domain)
    )


def csrf_middleware(
    allowed_origins: list[str], allowed_domain: str | None = None, *, https_only: bool = True
) -> Middleware:
    """Refuse cross-site state changes (login CSRF too): Origin, else Referer, must be ours or allowed.

    A request with neither header (curl, a service) passes: it did not come from a browser page, and the
    cookie's SameSite=Lax keeps browsers from sending it on cross-site POSTs anyway; a browser's
    `Sec-Fetch-Site: cross-site` without an allowed Origin is refused too. Safe methods are checked on routes
    marked @csrf_checked. Exempt: routes marked @csrf_exempt (service-token endpoints, the forward-auth check).
    `allowed_domain` (the session cookie's domain) also allows every https origin on it or under it.
    """
    allowed = {origin.rstrip("/").lower() for origin in allowed_origins}

    @web.middleware
    async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
        checked = request.method in UNSAFE_METHODS or _marked(request, CSRF_CHECKED)
        if checked and not _marked(request, CSRF_EXEMPT):
            origin = request.headers.get("Origin")
            if origin is None and (referer := request.headers.get("Referer")):
                origin = _origin_of(referer)
            if origin is not None:
                origin = origin.lower()
                if (
                    origin not in allowed
                    and origin != f"{request.scheme}://{request.host}".lower()
                    and not (allowed_domain and _under_domain(origin, allowed_domain, https_only))
                ):
                    raise Forbidden("Cross-site request refused: its Origin is not allowed.")
            elif request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
                raise Forbidden("Cross-site request refused.")
        return await handler(request)

    return csrf


def without_zone(address: str | None) -> str | None:
    """An IPv6 zone id (`fe80::1%3`) names an interface, not a client: one client, one address (and one bucket)."""
    return address.partition("%")[0] if address else address


def client_address(request: Asked) -> str | None:
    """The client's address: the peer's, or the forwarded one from a trusted proxy; without an IPv6 zone id."""
    return without_zone(request.remote)


FORWARDED_SCHEMES = frozenset({"http", "https"})


def peer_is_trusted(request: web.Request, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    """Whether the connection comes from one of the proxies whose X-Forwarded-* headers are believed."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return peer is not None and any(ip_address(without_zone(peer[0]) or "") in network for network in networks)


def forwarded_middleware(trusted_proxies: list[str]) -> Middleware:
    """X-Forwarded-For/-Proto are believed only when the peer itself is a configured proxy (aiohttp-remotes).

    X-Forwarded-Proto is believed on its own too (aiohttp-remotes reads it only beside X-Forwarded-For).
    """
    networks = [ip_network(network) for network in trusted_proxies]
    filtered = XForwardedFiltered(networks)

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not peer_is_trusted(request, networks):
            return await handler(request)
        host = request.host

        async def keep_host(forwarded: web.Request) -> web.StreamResponse:
            # X-Forwarded-Host is not believed: the CSRF check compares Origin with the Host we were sent. clone()
            # rebuilds the request from the raw message, so the forwarded client and scheme are passed on again.
            if forwarded.host != host:
                remote = forwarded.remote or ""  # set: XForwardedFiltered has just read it from X-Forwarded-For
                forwarded = forwarded.clone(host=host, remote=remote, scheme=forwarded.scheme)
            return await handler(forwarded)

        try:
            if "X-Forwarded-For" not in request.headers and "X-Forwarded-Proto" in request.headers:
                scheme = filtered.get_forwarded_proto(request.headers)[-1].lower()
                if scheme not in FORWARDED_SCHEMES:
                    raise web.HTTPBadRequest()
                return await handler(request.clone(scheme=scheme))
            return await filtered.middleware(request, keep_host)
        except (web.HTTPBadRequest, RemoteError):
            response = problem_response(BadRequest("Malformed X-Forwarded-* headers."), request)
            response.headers.update(SECURITY_HEADERS)
            return response

    return forwarded


def untrusted_forwarded_middleware(trusted_proxies: list[str], metrics: Metrics) -> Middleware:
    """X-Forwarded-For from a peer outside server.trusted_proxies is ignored; say so once in the log (a gateway left
    untrusted makes every client look like the gateway to the throttle) and count every such request."""
    networks = [ip_network(network) for network in trusted_proxies]
    warned = False

    @web.middleware
    async def untrusted_forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal warned
        if hdrs.X_FORWARDED_FOR in request.headers:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            try:
                address = ip_address(peer[0].split("%", 1)[0]) if peer else None
            except (ValueError, TypeError, AttributeError):
                address = None
            if address is not None and not any(address in network for network in networks):
                metrics.forwarded_untrusted()
                if not warned:
                    warned = True
                    log.warning(
                        "X-Forwarded-For from %s, which is not in server.trusted_proxies: the header is ignored, so "
                        "logs and throttling see that peer as the client; list your gateway's network there",
                        address,
                    )
        return await handler(request)

    return untrusted_forwarded


class ForwardedRules:
    """untrusted_forwarded_middleware's and forwarded_middleware's rules, in that order, for a request that is not
    aiohttp's (the gateway listener's, which cannot be cloned): the tests hold both ports' answers equal."""

    def __init__(self, trusted_proxies: list[str], metrics: Metrics) -> None:
        self._networks = [ip_network(network) for network in trusted_proxies]
        self._filtered = XForwardedFiltered(self._networks)
        self._trusted = parse_trusted_element(self._networks)
        self._metrics = metrics
        self._warned = False
        # Per peer address and per header value, parsed once: a gateway is a few addresses sending a few values.
        self._peer_trusted = functools.lru_cache(maxsize=1024)(self._is_trusted)
        self._one_line = functools.lru_cache(maxsize=4096)(self._forwarded_for_line)

    def apply(self, request: Asked, peer: str | None) -> tuple[str | None, str] | web.Response | None:
        """The (client address, scheme) a trusted proxy names, None when the request stays as it came, or the 400
        answer to malformed headers; peer: the connection's address."""
        headers = request.headers
        trusted = self._peer_trusted(peer)
        if trusted is False and hdrs.X_FORWARDED_FOR in headers:
            self._note_untrusted(peer)
        if not trusted:
            return None
        try:
            if hdrs.X_FORWARDED_FOR not in headers and hdrs.X_FORWARDED_PROTO in headers:
                scheme = self._filtered.get_forwarded_proto(headers)[-1].lower()
                if scheme not in FORWARDED_SCHEMES:
                    raise web.HTTPBadRequest()
                return request.remote, scheme
            try:
                return self._forwarded_for(headers, request.scheme)
            except RemoteError as exc:
                exc.log(request)  # type: ignore[arg-type]  # as XForwardedFiltered logs it (the request goes in extra)
                raise web.HTTPBadRequest() from None
        except (web.HTTPBadRequest, RemoteError):
            response = problem_response(BadRequest("Malformed X-Forwarded-* headers."), request)
            response.headers.update(SECURITY_HEADERS)
            return response

    def _is_trusted(self, peer: str | None) -> bool | None:
        """Whether the peer is a trusted proxy; None when it is no IP address (neither trusted nor counted)."""
        try:
            address = ip_address(peer.split("%", 1)[0]) if peer else None
        except ValueError:
            return None
        if address is None:
            return None
        return any(address in network for network in self._networks)

    def _forwarded_for(self, headers: MultiMapping[str], scheme: str) -> tuple[str | None, str] | None:
        lines = [headers.getall(name, ()) for name in (hdrs.X_FORWARDED_FOR, hdrs.X_FORWARDED_PROTO)]
        if len(lines[0]) == 1 and len(lines[1]) <= 1 and len(headers.getall(hdrs.X_FORWARDED_HOST, ())) <= 1:
            remote, proto = self._one_line(lines[0][0], lines[1][0] if lines[1] else None)
            return remote, scheme if proto is None else proto
        chosen = self._choose(headers)  # a header given twice: aiohttp-remotes refuses it
        return None if chosen is None else (chosen[0], scheme if chosen[1] is None else chosen[1])

    def _forwarded_for_line(self, forwarded_for: str, proto: str | None) -> tuple[str, str | None]:
        headers = CIMultiDict({hdrs.X_FORWARDED_FOR: forwarded_for})
        if proto is not None:
            headers[hdrs.X_FORWARDED_PROTO] = proto
        chosen = self._choose(headers)
        assert chosen is not None, "one X-Forwarded-For line names at least one address, or is refused"
        return chosen

    def _choose(self, headers: MultiMapping[str]) -> tuple[str, str | None] | None:
        """XForwardedFiltered's choice: the first address from the right that is not a trusted proxy, and the
        X-Forwarded-Proto entry at the same place (or the last)."""
        forwarded_for = list(reversed(self._filtered.get_forwarded_for(headers)))
        if not forwarded_for:
            return None
        index, remote = 0, None
        for address in forwarded_for:
            try:
                check_ip(self._trusted, address)
                index += 1
            except UntrustedIP:
                remote = str(address)
                break
        if remote is None:  # every address a trusted proxy: the left-most
            index, remote = -1, str(forwarded_for[-1])
        proto = list(reversed(self._filtered.get_forwarded_proto(headers)))
        scheme = proto[-1 if index >= len(proto) else index] if proto else None
        self._filtered.get_forwarded_host(headers)  # not believed (forwarded_middleware keeps the Host), but checked
        return remote, scheme

    def _note_untrusted(self, peer: str | None) -> None:
        self._metrics.forwarded_untrusted()
        if not self._warned:
            self._warned = True
            log.warning(
                "X-Forwarded-For from %s, which is not in server.trusted_proxies: the header is ignored, so "
                "logs and throttling see that peer as the client; list your gateway's network there",
                ip_address((peer or "").split("%", 1)[0]),
            )
