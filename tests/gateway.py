"""Parts for the gateway end-to-end test: Debian's nginx running the shipped server block, and an echo upstream."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.helpers import ROOT, free_port, stop_process, wait_for_port

SHIPPED_CONF = ROOT / "deploy" / "nginx" / "authsvc.conf"
# The three addresses the shipped file marks with "test:"; each must occur exactly once.
AUTHSVC_LINE = "server authsvc:8080;"
APP_LINE = "server whoami:80;"
LISTEN_LINE = "listen 80;"


def find_nginx() -> str | None:
    if os.access("/usr/sbin/nginx", os.X_OK):
        return "/usr/sbin/nginx"
    return shutil.which("nginx")


def render_server_block(authsvc_port: int, app_port: int, listen_port: int) -> str:
    """The shipped deploy/nginx/authsvc.conf with its container addresses swapped for 127.0.0.1 ports."""
    text = SHIPPED_CONF.read_text()
    for line, replacement in [
        (AUTHSVC_LINE, f"server 127.0.0.1:{authsvc_port};"),
        (APP_LINE, f"server 127.0.0.1:{app_port};"),
        (LISTEN_LINE, f"listen 127.0.0.1:{listen_port};"),
    ]:
        count = text.count(line)
        if count != 1:
            raise AssertionError(f"{SHIPPED_CONF} must contain {line!r} exactly once (found {count})")
        text = text.replace(line, replacement)
    return text


class NginxProcess:
    """nginx in the foreground (daemon off) with everything it writes under one temporary prefix."""

    def __init__(self, binary: str, prefix: Path, authsvc_port: int, app_port: int, port: int | None = None) -> None:
        self.binary = binary
        self.prefix = prefix
        self.port = port or free_port()
        self.conf_path = prefix / "nginx.conf"
        self.error_log = prefix / "error.log"
        self.access_log = prefix / "access.log"
        self.process: subprocess.Popen[bytes] | None = None
        server_path = prefix / "authsvc.conf"
        server_path.write_text(render_server_block(authsvc_port, app_port, self.port))
        # As root the master hands sockets to workers running as `user`; the default (nobody) could not read or
        # write the temporary directory pytest made (mode 0700), so the workers stay root for this local test.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temp = {name: prefix / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
        self.conf_path.write_text(
            f"{user}"
            "worker_processes 1;\n"
            f"pid {prefix / 'nginx.pid'};\n"
            f"error_log {self.error_log} info;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            f"    access_log {self.access_log};\n"
            f"    client_body_temp_path {temp['client_body']};\n"
            f"    proxy_temp_path {temp['proxy']};\n"
            f"    fastcgi_temp_path {temp['fastcgi']};\n"
            f"    uwsgi_temp_path {temp['uwsgi']};\n"
            f"    scgi_temp_path {temp['scgi']};\n"
            f"    include {server_path};\n"
            "}\n"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NginxProcess:
        command = [self.binary, "-p", str(self.prefix), "-e", str(self.error_log), "-c", str(self.conf_path)]
        command += ["-g", "daemon off;"]
        with (self.prefix / "stdout.log").open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, timeout=10, process=self.process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"nginx did not start: {exc}\n{self.logs()}") from None
        return self

    def stop(self) -> None:
        """Graceful stop (SIGQUIT: workers finish their requests), then wait; kill only if it hangs."""
        stop_process(self.process, signal.SIGQUIT, timeout=10)
        self.process = None

    def logs(self) -> str:
        parts = []
        for path in (self.prefix / "stdout.log", self.error_log):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)


SHIPPED_CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"


def find_caddy() -> str | None:
    return shutil.which("caddy") or ("/usr/bin/caddy" if os.access("/usr/bin/caddy", os.X_OK) else None)


def render_caddyfile(authsvc_port: int, app_port: int, listen_port: int) -> str:
    """The shipped deploy/caddy/Caddyfile with its container addresses swapped for 127.0.0.1 ports."""
    text = SHIPPED_CADDYFILE.read_text()
    for line, replacement, times in [
        ("reverse_proxy authsvc:8080  # test: the authsvc address", f"reverse_proxy 127.0.0.1:{authsvc_port}", 1),
        ("forward_auth authsvc:8080 {  # test: the authsvc address", f"forward_auth 127.0.0.1:{authsvc_port} {{", 1),
        ("reverse_proxy whoami:80  # test: the protected app's address", f"reverse_proxy 127.0.0.1:{app_port}", 1),
        (":80 {  # test: the gateway's address", f"http://:{listen_port} {{\n\tbind 127.0.0.1", 1),
        (
            "auto_https off  # test: for production remove this line and name the site by its domain (TLS)",
            "auto_https off",
            1,
        ),
    ]:
        count = text.count(line)
        if count != times:
            raise AssertionError(f"{SHIPPED_CADDYFILE} must contain {line!r} exactly once (found {count})")
        text = text.replace(line, replacement)
    return text


class CaddyProcess:
    """Debian's caddy running the shipped Caddyfile (admin API off), everything it writes under one prefix."""

    def __init__(self, binary: str, prefix: Path, authsvc_port: int, app_port: int, port: int | None = None) -> None:
        self.binary, self.prefix = binary, prefix
        self.port = port or free_port()
        self.caddyfile = prefix / "Caddyfile"
        self.caddyfile.write_text(render_caddyfile(authsvc_port, app_port, self.port))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CaddyProcess:
        command = [self.binary, "run", "--adapter", "caddyfile", "--config", str(self.caddyfile)]
        env = {
            **os.environ,
            "HOME": str(self.prefix),
            "XDG_DATA_HOME": str(self.prefix),
            "XDG_CONFIG_HOME": str(self.prefix),
        }
        with (self.prefix / "caddy.log").open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            wait_for_port(self.port, timeout=15, process=self.process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"caddy did not start: {exc}\n{self.logs()}") from None
        return self

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM, timeout=10)
        self.process = None

    def logs(self) -> str:
        path = self.prefix / "caddy.log"
        return path.read_text(errors="replace") if path.exists() else ""


class EchoUpstream:
    """The protected app: answers every GET with the identity headers it received, as JSON."""

    def __init__(self) -> None:
        self.requests = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects

            def do_GET(self) -> None:
                upstream.requests += 1
                body = json.dumps(
                    {
                        "path": self.path,
                        "userIds": self.headers.get_all("X-Auth-User-Id") or [],
                        "userNames": self.headers.get_all("X-Auth-User-Name") or [],
                        "userGroups": self.headers.get_all("X-Auth-User-Groups") or [],
                        "host": self.headers.get("Host"),
                        "forwardedFor": self.headers.get("X-Forwarded-For"),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="echo-upstream", daemon=True)

    def start(self) -> EchoUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def second_loopback_address() -> str:
    """A loopback source address other than nginx's own (127.0.0.2) when the system allows binding it.

    Requests from it let the test tell the client's address (which nginx forwards in X-Forwarded-For) from the
    proxy's (127.0.0.1, the peer authsvc sees). Falls back to 127.0.0.1, where the two are equal.
    """
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.2", 0))
        except OSError:
            return "127.0.0.1"
    return "127.0.0.2"


class ForwardAuthGateway:
    """A small gateway with Traefik's ForwardAuth semantics (no Traefik package in Debian), in front of authsvc and
    the echo app: the portal's paths are routed to authsvc; every other request is first asked of the auth address
    with the client's Cookie and Accept (authRequestHeaders) and X-Forwarded-Method/-Proto/-Host/-Uri/-For. A 2xx
    lets it through to the app with the auth answer's X-Auth-User-Id/-Name in place of the client's; anything
    else (the 302 to the portal, a 401) is returned to the client as it came, as Traefik does."""

    PORTAL = ("/login", "/login/mfa", "/logout", "/signup", "/forgot", "/reset", "/verify-email", "/not-me", "/account")
    PORTAL_PREFIXES = ("/account/", "/security", "/portal/")
    AUTH_REQUEST_HEADERS = ("Cookie", "Accept")
    AUTH_RESPONSE_HEADERS = ("X-Auth-User-Id", "X-Auth-User-Name")
    HOP_BY_HOP = frozenset(
        {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
    )

    def __init__(self, authsvc_port: int, app_port: int) -> None:
        self.port = free_port()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                gateway.handle(self)

            do_POST = do_HEAD = do_GET

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self.authsvc_port, self.app_port = authsvc_port, app_port
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="forward-auth-gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ForwardAuthGateway:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _forwarded(self, request: BaseHTTPRequestHandler) -> dict[str, str]:
        return {
            "X-Forwarded-For": request.client_address[0],
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Host": request.headers.get("Host", ""),
            "X-Forwarded-Uri": request.path,
            "X-Forwarded-Method": request.command,
        }

    def _call(
        self, port: int, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _answer(
        self, request: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        request.send_response(status)
        for name, value in headers:
            if name.lower() not in self.HOP_BY_HOP:
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        client_headers = {name: value for name, value in request.headers.items() if name.lower() not in self.HOP_BY_HOP}
        path = request.path.split("?")[0]
        if path in self.PORTAL or path.startswith(self.PORTAL_PREFIXES):
            headers = {**client_headers, **self._forwarded(request)}
            del headers["X-Forwarded-Host"], headers["X-Forwarded-Uri"], headers["X-Forwarded-Method"]
            self._answer(request, *self._call(self.authsvc_port, request.command, request.path, headers, body))
            return
        auth_headers = {name: request.headers[name] for name in self.AUTH_REQUEST_HEADERS if name in request.headers}
        auth_headers.update(self._forwarded(request))
        status, headers, auth_body = self._call(self.authsvc_port, "GET", "/auth/forward-auth", auth_headers, None)
        if not 200 <= status < 300:
            self._answer(request, status, headers, auth_body)
            return
        identity = {name.lower() for name in self.AUTH_RESPONSE_HEADERS}
        upstream = {name: value for name, value in client_headers.items() if name.lower() not in identity}
        upstream.update({name: value for name, value in headers if name.lower() in identity})
        self._answer(request, *self._call(self.app_port, request.command, request.path, upstream, body))
