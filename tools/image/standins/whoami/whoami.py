#!/usr/bin/env python3
"""traefik/whoami stand-in: the request line and headers back as text/plain, like the real one."""

import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        lines = [f"Hostname: {socket.gethostname()}", f"RemoteAddr: {self.client_address[0]}", self.requestline]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET


# PID 1 ignores SIGTERM without a handler: stop at once, as the real image does.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ThreadingHTTPServer(("0.0.0.0", 80), Echo).serve_forever()
