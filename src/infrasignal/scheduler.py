"""`infrasignal run`: the daemon that scrapes every day and mails the weekly report, on the cron schedules of
`[schedule]` (`scrape`, `report`, `timezone`).

- Schedules are APScheduler 3 `CronTrigger`s, checked at start-up: a bad cron or time zone is one
  `ConfigError` line naming the key (exit 2). Day-of-week numbers mean what they mean in crontab (0 or 7 =
  Sunday), not APScheduler 3's 0 = Monday.
- The loop that waits for the next fire time is this module's, not an APScheduler scheduler: APScheduler's
  schedulers read the wall clock themselves, and the daemon must run on an injectable `Clock` (tests drive
  weeks of fake time in milliseconds). Jobs run one after another in the calling thread, so the daemon
  never runs two at once; the run lock (`runlock.py`) keeps it apart from a `scrape` or `report --send`
  started by cron or by hand: a job that finds the lock held is skipped and retried a few minutes later.
- Catch-up comes from the database, not from memory: at start-up a scrape runs when a scheduled scrape
  time has passed since the oldest board's last fetch, and the report runs when the last complete week's
  report time has passed and the `sent_report` ledger has no delivery for it. Each runs once.
- Shutdown: `stop` (set by SIGTERM / SIGINT in `run_daemon`) ends the loop after the running job; a scrape
  finishes its boards, each written in its own transaction. A second signal cancels the scrape at once:
  boards being written still commit or roll back whole, the others are not written at all.
"""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from threading import Event
from types import FrameType
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine, func, select

from infrasignal.config import Config, ConfigError
from infrasignal.runlock import RunLocked, lock_path, run_lock
from infrasignal.tables import Board, Fetch

B = Board.__table__
F = Fetch.__table__
LOCK_RETRY = timedelta(minutes=5)
REDELIVER_WEEKS = 8  # failed weekly reports this recent are retried with the next report
_DOW = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    def wait(self, stop: Event, seconds: float) -> bool:
        """Sleep up to `seconds` or until `stop` is set; True when stopped."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, stop: Event, seconds: float) -> bool:
        # Wake at least once a minute: after a suspend or a clock change the next fire time is re-checked.
        return stop.wait(max(0.0, min(seconds, 60.0)))


def crontab_weekdays(expr: str) -> str:
    """Rewrite numeric days of week from crontab's meaning (0/7 = Sunday) to names APScheduler 3 reads
    the same way (`0 8 * * 1` is Monday there too)."""
    fields = expr.split()
    if len(fields) != 5 or not any(ch.isdigit() for ch in fields[4]):
        return expr
    days: list[str] = []
    for item in fields[4].split(","):
        spec, _, step_text = item.partition("/")
        if not spec.replace("-", "").replace("*", "").isdigit() and spec != "*":
            days.append(item)  # names, or something APScheduler will reject with its own message
            continue
        lo, _, hi = ("0-6" if spec == "*" else spec).partition("-")
        first, last = int(lo), int(hi or (6 if step_text else lo))
        step = int(step_text) if step_text.isdigit() else 1
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last and step >= 1):
            raise ValueError(f"day of week {item!r} is out of range (0-7, 0 and 7 = Sunday)")
        days.extend(_DOW[d] for d in range(first, last + 1, step))
    return " ".join([*fields[:4], ",".join(dict.fromkeys(days))])


def parse_schedule(cfg: Config) -> tuple[CronTrigger, CronTrigger]:
    """(scrape, report) triggers; ConfigError naming the key for a bad cron expression or time zone."""
    where = str(cfg.path) if cfg.path else "config"
    name = cfg.schedule.timezone
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: schedule.timezone: unknown time zone {name!r} (e.g. UTC, Europe/Berlin)"
        ) from None
    triggers = []
    for key in ("scrape", "report"):
        expr = getattr(cfg.schedule, key)
        try:
            triggers.append(CronTrigger.from_crontab(crontab_weekdays(expr), timezone=zone))
        except ValueError as exc:
            raise ConfigError(f"{where}: schedule.{key}: invalid cron expression {expr!r}: {exc}") from None
    return triggers[0], triggers[1]


def next_after(trigger: CronTrigger, t: datetime) -> datetime:
    """The first fire time strictly after `t` (aware)."""
    fire = trigger.get_next_fire_time(None, t + timedelta(microseconds=1))
    assert fire is not None  # a cron trigger without an end date always has a next time
    return fire


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


ScrapeFn = Callable[[Config, Engine, list[Any], datetime], Any]
SendFn = Callable[[Config, Engine, Any, datetime], Any]  # (cfg, db, period, now) -> outbox.Delivery


def _default_scrape(cfg: Config, db: Engine, boards: list[Any], at: datetime) -> Any:
    from infrasignal.scrape import scrape

    return scrape(cfg, db, boards, at)


def _default_send(cfg: Config, db: Engine, period: Any, now: datetime) -> Any:
    from infrasignal.mail import credentials, send
    from infrasignal.outbox import send_report

    login = credentials(cfg.email)
    return send_report(cfg, db, period, now, lambda msg: send(msg, cfg.email, login))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Daemon:
    """The two jobs and their catch-up, over an injectable clock, scrape and send."""

    cfg: Config
    db: Engine
    clock: Clock
    scrape_fn: ScrapeFn = _default_scrape
    send_fn: SendFn = _default_send
    log: Callable[[str], None] = _stderr

    def __post_init__(self) -> None:
        self.scrape_trigger, self.report_trigger = parse_schedule(self.cfg)
        self.lock = lock_path(self.cfg.path, self.cfg.database_url)

    def say(self, message: str) -> None:
        self.log(f"{_naive(self.clock.now()).isoformat(timespec='seconds')}Z {message}")

    # -- what the database says is due -------------------------------------------------------------------

    def scrape_due(self, now: datetime) -> bool:
        """A scheduled scrape time has passed since the least recently fetched board's last fetch."""
        boards = [b.label for b in self.cfg.boards if b.enabled]
        if not boards:
            return False
        with self.db.connect() as conn:
            rows = conn.execute(
                select(B.c.name, func.max(F.c.at))
                .join(F, F.c.board_id == B.c.id)
                .where(B.c.name.in_(boards))
                .group_by(B.c.name)
            ).all()
        last: dict[str, datetime] = {name: at for name, at in rows}
        if any(last.get(b) is None for b in boards):
            return True
        oldest = min(last.values())
        return next_after(self.scrape_trigger, _aware(oldest)) <= now

    def report_due(self, now: datetime) -> list[Any]:
        """Periods to mail now: the last complete week once its report time has passed (unless the ledger
        has it as sent), then recent weeks whose delivery failed."""
        from infrasignal.mail import recipients_key
        from infrasignal.outbox import ledger, undelivered
        from infrasignal.periods import last_complete_week, week

        if not self.cfg.email.to:
            return []
        to = recipients_key(self.cfg.email.to)
        latest = last_complete_week(_naive(now))
        due = []
        row = ledger(self.db, latest.key, to)
        if (row is None or row.status != "sent") and next_after(
            self.report_trigger, _aware(latest.end) - timedelta(microseconds=1)
        ) <= now:
            due.append(latest)
        oldest = latest.start - timedelta(weeks=REDELIVER_WEEKS)
        for key in undelivered(self.db, to):
            try:
                period = week(key)
            except ValueError:  # a --since period sent by hand: not the daemon's to retry
                continue
            if oldest <= period.start and period.key != latest.key:
                due.append(period)
        return due

    # -- the jobs -----------------------------------------------------------------------------------------

    def scrape_job(self) -> bool:
        """Scrape every enabled board now. False when another run held the lock."""
        boards = [b for b in self.cfg.boards if b.enabled]
        if not boards:
            self.say("scrape: no enabled boards in the config; nothing to do")
            return True
        try:
            with run_lock(self.lock, "scrape"):
                at = _naive(self.clock.now())
                self.say(f"scrape: {len(boards)} boards")
                summaries = self.scrape_fn(self.cfg, self.db, boards, at) or []
        except RunLocked as exc:
            self.say(f"scrape skipped: {exc}")
            return False
        failed = [s for s in summaries if getattr(s, "status", "") == "failed"]
        note = f", {len(failed)} failed: {', '.join(s.board for s in failed)}" if failed else ""
        self.say(f"scrape done: {len(summaries)} boards{note}")
        return True

    def report_job(self) -> bool:
        """Mail the report of each due period once. False when another run held the lock."""
        if not self.cfg.email.to:
            self.say("report: [email] has no `to` recipients; not sending")
            return True
        now = self.clock.now()
        periods = self.report_due(now)
        if not periods:
            self.say("report: nothing due (the last complete week was sent)")
            return True
        try:
            with run_lock(self.lock, "report --send"):
                for period in periods:
                    d = self.send_fn(self.cfg, self.db, period, _naive(now))
                    detail = f": {d.error}" if d.error else (f" (refused: {d.refused})" if d.refused else "")
                    self.say(f"report {period.key}: {d.status.replace('_', ' ')}{detail}")
        except RunLocked as exc:
            self.say(f"report skipped: {exc}")
            return False
        return True

    def catch_up(self, stop: Event) -> None:
        """Run, once each, what the database says was missed while the daemon was down."""
        now = self.clock.now()
        if self.scrape_due(now) and not stop.is_set():
            self.say("catch-up: a scheduled scrape was missed")
            self._guarded(self.scrape_job)
        if self.report_due(now) and not stop.is_set():
            self.say("catch-up: a weekly report is due")
            self._guarded(self.report_job)

    def _guarded(self, job: Callable[[], bool]) -> bool:
        """Run a job; an unexpected error is logged and the daemon goes on."""
        try:
            return job()
        except Exception as exc:  # the daemon must outlive one bad run
            self.say(f"job failed: {exc.__class__.__name__}: {exc}")
            self.log("".join(traceback.format_exception(exc)).rstrip())
            return True

    # -- the loop -----------------------------------------------------------------------------------------

    def serve(self, stop: Event) -> None:
        """Catch up, then run each job at its fire times until `stop` is set."""
        self.catch_up(stop)
        jobs: dict[str, tuple[CronTrigger, Callable[[], bool]]] = {
            "scrape": (self.scrape_trigger, self.scrape_job),
            "report": (self.report_trigger, self.report_job),
        }
        now = self.clock.now()
        due = {name: next_after(trigger, now) for name, (trigger, _) in jobs.items()}
        for name, when in due.items():
            self.say(f"next {name}: {_naive(when).isoformat(timespec='minutes')}Z")
        while not stop.is_set():
            now = self.clock.now()
            ready = sorted((when, name) for name, when in due.items() if when <= now)
            if not ready:
                if self.clock.wait(stop, (min(due.values()) - now).total_seconds()):
                    break
                continue
            for _, name in ready:
                if stop.is_set():
                    break
                trigger, job = jobs[name]
                ran = self._guarded(job)
                after = self.clock.now()
                # Missed fire times while a job ran are coalesced into the next one.
                due[name] = next_after(trigger, after)
                if not ran:
                    due[name] = min(due[name], after + LOCK_RETRY)
        self.say("stopped")


def run_daemon(cfg: Config, db: Engine, clock: Clock | None = None, stop: Event | None = None) -> None:
    """`infrasignal run`: serve until SIGTERM / SIGINT; a second signal cancels the running scrape."""
    daemon = Daemon(cfg, db, clock or SystemClock())
    stop = stop or Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # second signal: cancel the running job now
        daemon.say(f"{signal.Signals(signum).name}: stopping after the running job (again to cancel it)")
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        daemon.say(
            f"infrasignal run: scrape {cfg.schedule.scrape!r}, report {cfg.schedule.report!r}, "
            f"timezone {cfg.schedule.timezone}"
        )
        daemon.serve(stop)
    except KeyboardInterrupt:
        daemon.say("cancelled; every board was written whole or not at all")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
