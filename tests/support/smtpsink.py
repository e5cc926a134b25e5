"""A real SMTP server in the test process (aiosmtpd on 127.0.0.1, a free port) that records what it
accepts and can be scripted to fail: each DATA consumes one scripted reply ("451 ...", "550 ...", or
"disconnect" to drop the connection); with the script empty it answers 250 and keeps the message.

    with SmtpSink() as sink:
        sink.script.extend(["451 4.3.0 try later"])
        ... send to 127.0.0.1:sink.port ...
        assert len(sink.messages) == 1
"""

from __future__ import annotations

import ssl
import threading
from collections import deque
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None

    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.sink.lock:
            self.sink.data_commands += 1
            action = self.sink.script.popleft() if self.sink.script else None
            if action is None:
                login = (
                    session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
                )
                self.sink.messages.append(
                    Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
                )
                return "250 2.0.0 OK: queued"
        if action == "disconnect":
            server.transport.close()
            return "421 4.4.2 closing"
        return action


class _Controller(Controller):
    """aiosmtpd's Controller, bound to port 0: learns the real port before its readiness probe."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    def __init__(
        self,
        users: dict[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.lock = threading.Lock()
        self.script: deque[str] = deque()
        self.messages: list[Received] = []
        self.data_commands = 0
        self.users = users
        kwargs: dict[str, Any] = {}
        if users is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=tls_context is not None)
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        self._controller = _Controller(
            _Handler(self), hostname="127.0.0.1", port=0, ssl_context=ssl_context, ready_timeout=5.0, **kwargs
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.users is not None
            and self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
