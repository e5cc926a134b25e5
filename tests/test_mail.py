"""Mail over a real SMTP server in the test process (aiosmtpd on loopback): the report arrives once with a
text and an HTML part and the malicious title escaped; temporary failures are retried, permanent ones
recorded and delivered by a later run; `--force` resends with the same Message-ID; logins come from the
environment."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from msgspec.structs import replace
from typer.testing import CliRunner

from infrasignal.cli.app import _register, app
from infrasignal.config import EmailConfig, validate
from infrasignal.mail import MailError, message_id, recipients_key, send
from infrasignal.outbox import ledger
from infrasignal.runlock import lock_path, run_lock
from infrasignal.tables import SentReport
from support.history import EVIL_TITLE, History, week47
from support.smtpsink import SmtpSink

_register()
runner = CliRunner()
TO = ["Analyst <analyst@example.com>", "desk@example.com"]
WEEK = ["report", "--send", "--week", "2026-W47"]


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def setup(tmp_path: Path, port: int, extra: str = "") -> tuple[History, Path]:
    h = week47(tmp_path)
    path = tmp_path / "config.toml"
    to = ", ".join(f'"{a}"' for a in TO)
    path.write_text(
        f"""
[storage]
database = "{h.cfg.storage.database}"
[email]
host = "127.0.0.1"
port = {port}
from = "infrasignal <signal@example.com>"
to = [{to}]
timeout = 5
backoff = 0.01
{extra}
""",
        encoding="utf-8",
    )
    return h, path


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--config", str(config)])
    return result.exit_code, result.stdout, result.stderr


def row(h: History) -> SentReport:
    r = ledger(h.db, "2026-W47", recipients_key(TO))
    assert r is not None
    return r


def test_report_arrives_once_with_both_parts(sink: SmtpSink, tmp_path: Path) -> None:
    h, config = setup(tmp_path, sink.port)
    code, out, err = cli(config, *WEEK)
    assert code == 0, err
    assert "sent report 2026-W47 to analyst@example.com, desk@example.com" in out
    assert len(sink.messages) == 1
    got = sink.messages[0]
    assert got.mail_from == "signal@example.com" and sorted(got.rcpt_tos) == [
        "analyst@example.com",
        "desk@example.com",
    ]
    msg = got.message()
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    assert EVIL_TITLE in text.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.get_content()
    assert "<script" not in html.get_content() and "javascript:" not in html.get_content()
    assert (
        msg["Message-ID"]
        == row(h).message_id
        == message_id("2026-W47", recipients_key(TO), "signal@example.com")
    )
    assert msg["Subject"].startswith("infrasignal 2026-W47:")

    code, out, _ = cli(config, *WEEK)  # the same period again: nothing is sent
    assert code == 0 and "already sent" in out and "nothing sent" in out
    assert len(sink.messages) == 1
    assert (row(h).status, row(h).deliveries) == ("sent", 1)


def test_temporary_failure_is_retried_once_delivered(sink: SmtpSink, tmp_path: Path) -> None:
    h, config = setup(tmp_path, sink.port)
    sink.script.append("451 4.3.0 Try again later")
    code, out, err = cli(config, *WEEK)
    assert code == 0, err
    assert "2 attempt(s)" in out
    assert len(sink.messages) == 1 and sink.data_commands == 2
    assert (row(h).status, row(h).attempts) == ("sent", 2)


def test_permanent_failure_is_recorded_and_a_later_run_delivers(sink: SmtpSink, tmp_path: Path) -> None:
    h, config = setup(tmp_path, sink.port)
    sink.script.append("550 5.7.1 Relaying denied")
    code, _, err = cli(config, *WEEK)
    assert code == 1
    assert "not sent: SMTP 550 5.7.1 Relaying denied" in err and sink.data_commands == 1  # not retried
    assert (row(h).status, row(h).deliveries) == ("failed", 0) and "550" in (row(h).last_error or "")
    assert sink.messages == []

    code, _, err = cli(config, *WEEK)
    assert code == 0, err
    assert len(sink.messages) == 1
    assert (row(h).status, row(h).deliveries, row(h).attempts, row(h).last_error) == ("sent", 1, 2, None)
    assert cli(config, *WEEK)[0] == 0 and len(sink.messages) == 1


def test_force_resends_with_the_same_message_id(sink: SmtpSink, tmp_path: Path) -> None:
    h, config = setup(tmp_path, sink.port)
    assert cli(config, *WEEK)[0] == 0
    code, out, _ = cli(config, *WEEK, "--force")
    assert code == 0 and "sent report" in out
    ids = [m.message()["Message-ID"] for m in sink.messages]
    assert len(ids) == 2 and ids[0] == ids[1] == row(h).message_id
    assert row(h).deliveries == 2


def test_eml_file_is_the_message_that_would_be_sent(sink: SmtpSink, tmp_path: Path) -> None:
    _, config = setup(tmp_path, sink.port)
    eml = tmp_path / "week.eml"
    assert cli(config, "report", "--week", "2026-W47", "--format", "eml", "--out", str(eml))[0] == 0
    assert cli(config, *WEEK)[0] == 0
    from email import message_from_bytes, policy

    written = message_from_bytes(eml.read_bytes(), policy=policy.default)
    sent = sink.messages[0].message()
    assert written["Message-ID"] == sent["Message-ID"] and written["Subject"] == sent["Subject"]
    html = written.get_body(("html",))
    assert html is not None and "&lt;script&gt;" in html.get_content()


def test_send_waits_for_no_one_while_another_run_holds_the_lock(sink: SmtpSink, tmp_path: Path) -> None:
    h, config = setup(tmp_path, sink.port)
    with run_lock(lock_path(h.cfg.path, h.cfg.database_url)):
        code, _, err = cli(config, *WEEK)
    assert code == 75 and "another infrasignal run holds" in err
    assert sink.messages == [] and ledger(h.db, "2026-W47", recipients_key(TO)) is None


def test_login_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpSink(users={"robot": "s3cret"}) as server:
        _, config = setup(
            tmp_path, server.port, 'username_env = "IS_SMTP_USER"\npassword_env = "IS_SMTP_PASS"'
        )
        assert "s3cret" not in config.read_text()
        monkeypatch.setenv("IS_SMTP_USER", "robot")
        code, _, err = cli(config, *WEEK)
        assert code == 2 and "email.password_env: environment variable IS_SMTP_PASS is not set" in err
        monkeypatch.setenv("IS_SMTP_PASS", "wrong")
        code, _, err = cli(config, *WEEK)
        assert code == 1 and "535" in err  # a refused login is permanent: not retried
        monkeypatch.setenv("IS_SMTP_PASS", "s3cret")
        assert cli(config, *WEEK)[0] == 0
        assert [m.login for m in server.messages] == ["robot"]


# mail.send on its own: retries with an injected sleep -----------------------------------------------------


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "t", "a@example.com", "b@example.com"
    msg.set_content("hello")
    return msg


def email_config(port: int, retries: int = 3) -> EmailConfig:
    return validate(
        EmailConfig,
        {
            "host": "127.0.0.1",
            "port": port,
            "to": ["b@example.com"],
            "retries": retries,
            "backoff": 1.5,
            "timeout": 5,
        },
    )


def test_disconnects_and_4xx_are_retried_with_doubling_waits(sink: SmtpSink) -> None:
    sink.script.extend(["disconnect", "421 4.7.0 busy"])
    sleeps: list[float] = []
    result = send(message(), email_config(sink.port), sleep=sleeps.append)
    assert result.attempts == 3 and sleeps == [1.5, 3.0] and len(sink.messages) == 1


def test_retries_are_bounded(sink: SmtpSink) -> None:
    sink.script.extend(["452 4.3.1 full"] * 5)
    sleeps: list[float] = []
    with pytest.raises(MailError) as info:
        send(message(), email_config(sink.port, retries=2), sleep=sleeps.append)
    assert (
        not info.value.permanent
        and info.value.attempts == 3
        and "gave up after 3 attempts" in str(info.value)
    )
    assert sleeps == [1.5, 3.0] and sink.messages == []


def test_no_server_is_a_temporary_failure() -> None:
    with SmtpSink() as server:
        port = server.port
    sleeps: list[float] = []
    with pytest.raises(MailError) as info:
        send(message(), email_config(port, retries=1), sleep=sleeps.append)
    assert (
        not info.value.permanent and "cannot talk to the SMTP server" in str(info.value) and sleeps == [1.5]
    )


def test_message_id_is_stable_and_depends_on_period_and_recipients() -> None:
    a = message_id("2026-W47", recipients_key(["X@Example.com", "y@example.com"]), "me@example.org")
    assert a == message_id(
        "2026-W47", recipients_key(["y@example.com", "Someone <x@example.com>"]), "me@example.org"
    )
    assert a.startswith("<infrasignal.2026-w47.") and a.endswith("@example.org>")
    assert a != message_id("2026-W48", recipients_key(["x@example.com", "y@example.com"]), "me@example.org")
    assert a != message_id("2026-W47", recipients_key(["x@example.com"]), "me@example.org")


def test_when_sent_is_recorded(sink: SmtpSink, tmp_path: Path) -> None:
    h, config = setup(tmp_path, sink.port)
    before = datetime.now()
    assert cli(config, *WEEK)[0] == 0
    sent_at = row(h).sent_at
    assert sent_at is not None and abs((sent_at - before).total_seconds()) < 3600 * 24


# TLS: implicit (SMTPS) and STARTTLS, with a throw-away certificate the client is told to trust ------------


@pytest.fixture
def server_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client's default context trusts it
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls(security: str, server_tls: ssl.SSLContext) -> None:
    kwargs = {"ssl_context": server_tls} if security == "tls" else {"tls_context": server_tls}
    with SmtpSink(users={"robot": "pw"}, **kwargs) as server:  # type: ignore[arg-type]
        cfg = replace(email_config(server.port), security=security)
        result = send(message(), cfg, login=("robot", "pw"), sleep=lambda _: None)
    assert result.attempts == 1 and [m.login for m in server.messages] == ["robot"]


def test_untrusted_certificate_is_permanent(
    server_tls: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")
    with SmtpSink(ssl_context=server_tls) as server:
        cfg = replace(email_config(server.port), security="tls")
        with pytest.raises(MailError) as info:
            send(message(), cfg, sleep=lambda _: None)
    assert info.value.permanent and "certificate" in str(info.value)


def test_recipients_are_checked_with_the_config(tmp_path: Path) -> None:
    from infrasignal.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"email\.to: not an email address: 'analyst'"):
        parse_config({"email": {"to": ["analyst"]}}, tmp_path / "config.toml")
