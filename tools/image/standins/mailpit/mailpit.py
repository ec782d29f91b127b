"""axllent/mailpit stand-in: catches every mail on :1025 and lists them on :8025 in Mailpit's JSON shapes."""

import json
import signal
import sys
import threading
import time
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES: list[dict[str, object]] = []
LOCK = threading.Lock()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


class Catcher:
    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(message, EmailMessage)
        entry = {
            "ID": uuid.uuid4().hex,
            "From": {"Name": "", "Address": envelope.mail_from},
            "To": [{"Name": "", "Address": address} for address in envelope.rcpt_tos],
            "Subject": str(message["Subject"] or ""),
            "Created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "Text": text_of(message),
        }
        with LOCK:
            MESSAGES.insert(0, entry)
        return "250 Message accepted for delivery"


class Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with LOCK:
            messages = list(MESSAGES)
        if self.path == "/api/v1/messages":
            summaries = [{k: v for k, v in m.items() if k != "Text"} for m in messages]
            self.answer(200, {"total": len(messages), "messages_count": len(messages), "messages": summaries})
            return
        if self.path.startswith("/api/v1/message/"):
            wanted = self.path.rsplit("/", 1)[1]
            for message in messages:
                if message["ID"] == wanted:
                    self.answer(200, message)
                    return
        self.answer(404, {"error": "not found"})

    def answer(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


Controller(Catcher(), hostname="0.0.0.0", port=1025).start()
# PID 1 ignores SIGTERM without a handler: stop at once, as the real image does.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ThreadingHTTPServer(("0.0.0.0", 8025), Api).serve_forever()
