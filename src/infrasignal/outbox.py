"""Send the report of a period exactly once: the `sent_report` ledger, keyed by (period, recipients), and the
path from a period to a delivered message (gather -> render -> build -> send -> record).

A second send of the same period finds the row `sent` and sends nothing, unless forced; a forced resend
keeps the Message-ID, so mail clients treat it as the same message. The row is marked `pending` before the
SMTP conversation and `sent` after it: a run killed in between leaves `pending`, and the next run sends
again (at least once, with the same Message-ID, rather than never). Callers hold the run lock, so two
runs never send at once. Reads [email].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import Engine, insert, select, update
from sqlmodel import SQLModel

from infrasignal.config import Config, EmailConfig
from infrasignal.mail import MailError, SendResult, build_message, message_id, recipients_key
from infrasignal.periods import Period
from infrasignal.store import utc_naive
from infrasignal.tables import SentReport

S = SQLModel.metadata.tables[SentReport.__tablename__]  # the Core table: typed SQL expressions
SendFn = Callable[[EmailMessage], SendResult]


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a send did. status: sent | already_sent | failed."""

    status: str
    period: str
    recipients: str
    message_id: str
    attempts: int = 0
    error: str | None = None
    refused: str | None = None  # recipients the server refused while accepting the others
    sent_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("sent", "already_sent") and not self.refused


def ledger(db: Engine, period: str, recipients: str) -> SentReport | None:
    with db.connect() as conn:
        row = conn.execute(select(S).where(S.c.period == period, S.c.recipients == recipients)).first()
    return SentReport.model_validate(row._mapping) if row is not None else None


def undelivered(db: Engine, recipients: str) -> list[str]:
    """Periods whose mail to these recipients failed or never finished, oldest first."""
    with db.connect() as conn:
        rows = conn.execute(
            select(S.c.period)
            .where(S.c.recipients == recipients, S.c.status != "sent")
            .order_by(S.c.created_at, S.c.id)
        )
        return [r[0] for r in rows]


def deliver_once(
    db: Engine,
    cfg: EmailConfig,
    period: str,
    build: Callable[[str], EmailMessage],
    send: SendFn,
    now: datetime,
    force: bool = False,
) -> Delivery:
    """Send the message `build(message_id)` for `period` unless the ledger says it was sent."""
    now = utc_naive(now)
    to = recipients_key(cfg.to)
    row = ledger(db, period, to)
    if row is not None and row.status == "sent" and not force:
        return Delivery("already_sent", period, to, row.message_id, sent_at=row.sent_at)
    mid = row.message_id if row is not None else message_id(period, to, cfg.from_addr)
    msg = build(mid)
    key = (S.c.period == period, S.c.recipients == to)
    with db.begin() as conn:
        if row is None:
            conn.execute(
                insert(S).values(
                    period=period,
                    recipients=to,
                    message_id=mid,
                    status="pending",
                    subject=str(msg["Subject"] or ""),
                    created_at=now,
                )
            )
        else:
            conn.execute(update(S).where(*key).values(status="pending", subject=str(msg["Subject"])))
    try:
        result = send(msg)
    except MailError as exc:
        attempts = exc.attempts
        with db.begin() as conn:
            conn.execute(
                update(S)
                .where(*key)
                .values(status="failed", last_error=str(exc), attempts=S.c.attempts + attempts)
            )
        return Delivery("failed", period, to, mid, attempts, error=str(exc))
    refused = "; ".join(f"{a}: {why}" for a, why in result.refused.items()) or None
    with db.begin() as conn:
        conn.execute(
            update(S)
            .where(*key)
            .values(
                status="sent",
                sent_at=now,
                last_error=f"refused: {refused}" if refused else None,
                attempts=S.c.attempts + result.attempts,
                deliveries=S.c.deliveries + 1,
            )
        )
    return Delivery("sent", period, to, mid, result.attempts, refused=refused, sent_at=now)


def report_message(cfg: Config, db: Engine, period: Period, now: datetime, msg_id: str) -> EmailMessage:
    """The report of `period` as a mail (text + HTML) with the given Message-ID."""
    from infrasignal.report import render_html, render_text, subject
    from infrasignal.reportdata import gather

    data = gather(db, cfg, period, utc_naive(now))
    return build_message(
        subject=subject(data, cfg.email.subject),
        from_addr=cfg.email.from_addr,
        to=list(cfg.email.to),
        text=render_text(data),
        html=render_html(data),
        msg_id=msg_id,
        date=now,
        period_key=period.key,
    )


def send_report(
    cfg: Config,
    db: Engine,
    period: Period,
    now: datetime,
    send: SendFn,
    force: bool = False,
) -> Delivery:
    """Gather, render and send the report of `period` once (see `deliver_once`)."""
    return deliver_once(
        db,
        cfg.email,
        period.key,
        lambda mid: report_message(cfg, db, period, now, mid),
        send,
        now,
        force,
    )
