"""The only SMTP code: build the report message (multipart/alternative, text + HTML, a stable Message-ID)
and send it, retrying temporary failures.

Reads `[email]`: host, port, security (none | starttls | tls), from, to, username_env / password_env (the
*names* of environment variables holding the login; the secrets never live in the config), timeout,
retries and backoff. A 4xx reply, a dropped connection or a refused connection is temporary and retried
with doubling delays (the sleep function is injectable for tests); a 5xx reply is permanent and raised at
once as `MailError(permanent=True)`.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from infrasignal.config import EmailConfig

Sleep = Callable[[float], None]


class MailError(Exception):
    """Delivery failed. `permanent` when the server said 5xx (retrying the same message cannot help)."""

    def __init__(self, message: str, permanent: bool, code: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.attempts = attempts


@dataclass(slots=True)
class SendResult:
    attempts: int
    refused: dict[str, str] = field(default_factory=dict)  # recipients the server refused (others got it)


def recipients_key(to: Iterable[str]) -> str:
    """The recipients as the ledger keys them: addresses only, lower-case, sorted, comma-separated."""
    return ",".join(sorted({parseaddr(a)[1].strip().lower() for a in to if parseaddr(a)[1].strip()}))


def message_id(period_key: str, recipients: str, from_addr: str) -> str:
    """A Message-ID that depends only on (period, recipients), so a resend is recognisably the same mail."""
    digest = hashlib.sha256(f"{period_key}\x1f{recipients}".encode()).hexdigest()[:20]
    label = re.sub(r"[^A-Za-z0-9.-]+", "-", period_key).strip("-").lower() or "report"
    domain = parseaddr(from_addr)[1].rpartition("@")[2]
    domain = re.sub(r"[^A-Za-z0-9.-]+", "", domain) or "infrasignal.invalid"
    return f"<infrasignal.{label}.{digest}@{domain}>"


def build_message(
    *,
    subject: str,
    from_addr: str,
    to: list[str],
    text: str,
    html: str,
    msg_id: str,
    date: datetime,
    period_key: str,
) -> EmailMessage:
    """multipart/alternative with the text part first (clients show the last part they can render)."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = subject
    msg["From"] = from_addr
    if to:
        msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(date if date.tzinfo else date.replace(tzinfo=UTC))
    msg["Message-ID"] = msg_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Infrasignal-Period"] = period_key
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def credentials(cfg: EmailConfig, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(username, password) from the environment variables `[email]` names; None when no login is set.
    ValueError (one line, naming the key and the variable) when a named variable is unset."""
    if not cfg.username_env and not cfg.password_env:
        return None
    env = os.environ if environ is None else environ
    values = []
    for key in ("username_env", "password_env"):
        name = getattr(cfg, key)
        if not name:
            raise ValueError(f"email.{key}: not set (a login needs both username_env and password_env)")
        if name not in env:
            raise ValueError(f"email.{key}: environment variable {name} is not set")
        values.append(env[name])
    return values[0], values[1]


def _classify(exc: BaseException) -> MailError:
    """Temporary (retry) or permanent, with a one-line message."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{a}: {c} {_text(m)}" for a, (c, m) in exc.recipients.items())
        return MailError(f"all recipients refused: {detail}", all(c >= 500 for c in codes), max(codes))
    if isinstance(exc, smtplib.SMTPResponseException):
        code = int(exc.smtp_code)
        return MailError(f"SMTP {code} {_text(exc.smtp_error)}", code >= 500, code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return MailError(f"server does not support it: {exc}", True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailError(f"TLS certificate not trusted: {exc.verify_message}", True)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return MailError(f"server disconnected: {exc or 'connection closed'}", False)
    if isinstance(exc, OSError):
        return MailError(f"cannot talk to the SMTP server: {exc.strerror or exc}", False)
    return MailError(f"SMTP error: {exc}", False)


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:300]


def _send_once(msg: EmailMessage, cfg: EmailConfig, login: tuple[str, str] | None) -> dict[str, str]:
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if cfg.security == "tls":
        client = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
    else:
        client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
    with client:
        client.ehlo()
        if cfg.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if login is not None:
            client.login(*login)
        refused = client.send_message(msg, from_addr=_address(cfg.from_addr), to_addrs=cfg.to)
    return {addr: f"{code} {_text(text)}" for addr, (code, text) in refused.items()}


def _address(value: str) -> str:
    addr = parseaddr(value)[1]
    return str(Address(addr_spec=addr)) if addr else value


def send(
    msg: EmailMessage,
    cfg: EmailConfig,
    login: tuple[str, str] | None = None,
    sleep: Sleep = time.sleep,
) -> SendResult:
    """Deliver `msg` to `cfg.to`. Temporary failures are retried `cfg.retries` times, waiting `cfg.backoff`
    seconds and doubling; raises MailError when the server refuses for good or the retries run out."""
    attempts = 0
    delay = cfg.backoff
    while True:
        attempts += 1
        try:
            refused = _send_once(msg, cfg, login)
        except (smtplib.SMTPException, OSError) as exc:
            error = _classify(exc)
            if error.permanent or attempts > cfg.retries:
                suffix = "" if error.permanent else f" (gave up after {attempts} attempts)"
                raise MailError(f"{error}{suffix}", error.permanent, error.code, attempts) from None
            sleep(delay)
            delay *= 2
            continue
        return SendResult(attempts, refused)
