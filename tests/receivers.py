"""Receivers of tendr watch's alerts on loopback: an HTTP one for Apprise's json://
(a ticket system's webhook) and an SMTP one (aiosmtpd) for mailto://."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """What a receiver was sent, each message as {"title", "body"}; `failing` makes the
    HTTP one answer 500 (a webhook down)."""

    messages: list[dict[str, str]] = field(default_factory=list)
    failing: bool = False
    logins: list[str] = field(default_factory=list)  # the passwords an SMTP login gave
    port: int = 0


@contextmanager
def http_receiver() -> Iterator[Received]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            data = json.loads(self.rfile.read(length) or b"{}")
            if received.failing:
                self.send_response(500)
            else:
                received.messages.append(
                    {"title": data.get("title", ""), "body": data.get("message", "")}
                )
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # noqa: ARG002 - quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_receiver() -> Iterator[Received]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    received = Received()

    class Handler:
        async def handle_DATA(  # as aiosmtpd calls it
            self,
            server: Any,  # noqa: ARG002
            session: Any,  # noqa: ARG002
            envelope: Any,
        ) -> str:
            mail = message_from_bytes(envelope.content)
            part = mail.get_payload(0) if mail.is_multipart() else mail
            assert not isinstance(part, (str, list)) and part is not None
            payload = part.get_payload(decode=True)
            body = payload.decode() if isinstance(payload, bytes) else str(payload)
            received.messages.append({"title": str(mail["Subject"]), "body": body})
            return "250 OK"

    with socket.socket() as probe:  # a free port (the controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        received.port = probe.getsockname()[1]

    def login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        received.logins.append(data.password.decode())
        return AuthResult(success=True)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=received.port,
        authenticator=login,
        auth_require_tls=False,  # loopback
    )
    controller.start()
    try:
        yield received
    finally:
        controller.stop()
