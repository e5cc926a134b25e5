"""The daemon on a fake clock: jobs fire at their cron times, a scrape or report missed while it was down
runs once at start-up (from what the database says), a held run lock makes a job wait instead of running
twice at once, a stop lets the running scrape finish, and bad schedules are one-line errors. One test runs
`infrasignal run` as a real process and stops it with SIGTERM in the middle of a scrape."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace
from sqlalchemy import insert, select
from typer.testing import CliRunner

from infrasignal.cli.app import _register, app
from infrasignal.config import Config, ConfigError, parse_config
from infrasignal.crawl import BoardFetch
from infrasignal.mail import SendResult, recipients_key
from infrasignal.outbox import send_report
from infrasignal.runlock import lock_path, run_lock
from infrasignal.scheduler import Daemon, crontab_weekdays, next_after, parse_schedule
from infrasignal.store import open_store, record_fetch, sync_boards
from infrasignal.tables import Fetch, SentReport
from support.boardserver import BoardServer, Fault
from support.gh import gh_board, gh_job

_register()
runner = CliRunner()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class FakeClock:
    """Time stands still until the daemon waits; waiting jumps ahead. Stops the daemon at `until`.
    `at(t, fn)` runs fn once when the clock first reaches t."""

    def __init__(self, start: datetime, until: datetime) -> None:
        self.t, self.until = start, until
        self.hooks: list[tuple[datetime, Callable[[], None]]] = []

    def at(self, t: datetime, fn: Callable[[], None]) -> None:
        self.hooks.append((t, fn))

    def now(self) -> datetime:
        return self.t

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        target = min(self.t + timedelta(seconds=seconds), self.until)
        for when, fn in sorted(self.hooks, key=lambda h: h[0]):
            if self.t < when <= target:
                self.t = when
                fn()
        self.t = target
        if self.t >= self.until:
            stop.set()
        return stop.is_set()


class World:
    """A config, a store, and fake scrape / send functions that write the real tables."""

    def __init__(self, tmp_path: Path, schedule: dict[str, str] | None = None) -> None:
        self.cfg: Config = parse_config(
            {
                "storage": {"database": str(tmp_path / "s.db")},
                "email": {"to": ["desk@example.com"]},
                "schedule": schedule or {},
                "boards": [
                    {"company": "Acme", "ats": "greenhouse", "token": "acme"},
                    {"company": "Beta", "ats": "greenhouse", "token": "beta"},
                ],
            },
            tmp_path / "config.toml",
        )
        self.db = open_store(self.cfg.database_url)
        self.scrapes: list[datetime] = []
        self.mails: list[tuple[str, datetime]] = []
        self.log: list[str] = []
        self.during_scrape: Callable[[], None] | None = None

    def scrape(self, cfg: Config, db: Any, boards: list[Any], at: datetime) -> list[Any]:
        if self.during_scrape:
            self.during_scrape()
        self.scrapes.append(at)
        ids = sync_boards(db, boards, at)
        ok = BoardFetch(board="", status="ok", postings=[], complete=True)
        return [record_fetch(db, ids[b.label], ok, cfg.history, at) for b in boards]

    def send(self, cfg: Config, db: Any, period: Any, now: datetime) -> Any:
        def smtp(msg: EmailMessage) -> SendResult:
            self.mails.append((period.key, now))
            return SendResult(1)

        return send_report(cfg, db, period, now, smtp)

    def daemon(self, clock: FakeClock) -> Daemon:
        return Daemon(self.cfg, self.db, clock, scrape_fn=self.scrape, send_fn=self.send, log=self.log.append)

    def fetched(self, at: datetime) -> None:
        self.scrape(self.cfg, self.db, self.cfg.boards, at.replace(tzinfo=None))
        self.scrapes.clear()

    def mailed(self, period: str) -> None:
        with self.db.begin() as conn:
            conn.execute(
                insert(SentReport).values(
                    period=period, recipients=recipients_key(self.cfg.email.to), message_id="<x@y>",
                    status="sent", created_at=datetime(2026, 1, 1), deliveries=1,
                )
            )  # fmt: skip

    def serve(self, clock: FakeClock) -> None:
        self.daemon(clock).serve(threading.Event())


def naive(*args: int) -> datetime:
    return datetime(*args)


def test_jobs_fire_on_their_cron_times(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.fetched(utc(2026, 11, 15, 6))  # Sunday's scrape and week 45's mail were done: nothing to catch up
    w.mailed("2026-W45")
    w.serve(FakeClock(utc(2026, 11, 15, 7), until=utc(2026, 11, 24, 7)))
    assert w.scrapes == [naive(2026, 11, day, 6) for day in range(16, 25)]
    assert w.mails == [("2026-W46", naive(2026, 11, 16, 8)), ("2026-W47", naive(2026, 11, 23, 8))]
    assert not any("catch-up" in line for line in w.log)


def test_catch_up_runs_missed_jobs_once_from_the_database(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.fetched(utc(2026, 11, 10, 6))  # then the daemon was down for ten days
    w.mailed("2026-W45")
    start = utc(2026, 11, 20, 12)
    w.serve(FakeClock(start, until=start))
    assert w.scrapes == [naive(2026, 11, 20, 12)]  # ten missed scrapes: one catch-up
    assert w.mails == [("2026-W46", naive(2026, 11, 20, 12))]
    assert sum("catch-up" in line for line in w.log) == 2
    # started again an hour later: the database says everything is done
    w.serve(FakeClock(utc(2026, 11, 20, 13), until=utc(2026, 11, 20, 13)))
    assert len(w.scrapes) == 1 and len(w.mails) == 1


def test_first_start_scrapes_at_once_and_a_new_board_too(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.mailed("2026-W46")
    start = utc(2026, 11, 17, 12)
    w.serve(FakeClock(start, until=start))
    assert w.scrapes == [naive(2026, 11, 17, 12)] and w.mails == []
    w.cfg = replace(w.cfg, boards=[*w.cfg.boards, replace(w.cfg.boards[0], company="Gamma")])
    w.serve(FakeClock(start + timedelta(hours=1), until=start + timedelta(hours=1)))
    assert len(w.scrapes) == 2  # Gamma was never fetched


def test_a_report_that_failed_is_delivered_by_the_next_run(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.fetched(utc(2026, 11, 16, 6))
    attempts: list[str] = []

    def flaky(cfg: Config, db: Any, period: Any, now: datetime) -> Any:
        from infrasignal.mail import MailError

        def smtp(msg: EmailMessage) -> SendResult:
            attempts.append(period.key)
            if len(attempts) == 1:
                raise MailError("SMTP 550 mailbox unavailable", True, 550)
            return SendResult(1)

        return send_report(cfg, db, period, now, smtp)

    d = Daemon(
        w.cfg, w.db, FakeClock(utc(2026, 11, 16, 7), utc(2026, 11, 23, 9)), w.scrape, flaky, w.log.append
    )
    d.serve(threading.Event())
    assert attempts == ["2026-W46", "2026-W47", "2026-W46"]  # failed, then retried with the next report
    assert any("report 2026-W46: failed: SMTP 550" in line for line in w.log)


def test_a_held_lock_skips_the_job_and_retries_it_later(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.fetched(utc(2026, 11, 15, 6))
    w.mailed("2026-W45")
    other = run_lock(lock_path(w.cfg.path, w.cfg.database_url))
    other.__enter__()  # a `scrape` started by cron is running
    clock = FakeClock(utc(2026, 11, 16, 5), until=utc(2026, 11, 16, 7))
    clock.at(utc(2026, 11, 16, 6, 2), lambda: other.__exit__(None, None, None))
    w.serve(clock)
    assert w.scrapes == [naive(2026, 11, 16, 6, 5)]
    assert any("scrape skipped: another infrasignal run holds" in line for line in w.log)


def test_never_two_scrapes_at_once(tmp_path: Path) -> None:
    w = World(tmp_path)
    (tmp_path / "config.toml").write_text(
        f'[storage]\ndatabase = "{w.cfg.storage.database}"\n[email]\nto = ["desk@example.com"]\n'
        '[[boards]]\ncompany = "Acme"\nats = "greenhouse"\ntoken = "acme"\n',
        encoding="utf-8",
    )
    inside, release = threading.Event(), threading.Event()

    def slow() -> None:
        inside.set()
        assert release.wait(10)

    w.during_scrape = slow
    daemon = w.daemon(FakeClock(utc(2026, 11, 16, 6), utc(2026, 11, 16, 6)))
    job = threading.Thread(target=daemon.scrape_job)
    job.start()
    try:
        assert inside.wait(10)
        for args in (["scrape"], ["report", "--send", "--week", "2026-W47"]):
            result = runner.invoke(app, [*args, "--config", str(tmp_path / "config.toml")])
            assert result.exit_code == 75 and "another infrasignal run holds" in result.stderr, args
    finally:
        release.set()
        job.join(10)
    assert len(w.scrapes) == 1


def test_stop_lets_the_running_scrape_finish_and_starts_nothing_new(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.fetched(utc(2026, 11, 15, 6))
    w.mailed("2026-W45")
    stop = threading.Event()
    w.during_scrape = stop.set  # SIGTERM arrives while the Monday scrape runs
    d = w.daemon(FakeClock(utc(2026, 11, 16, 5), until=utc(2026, 11, 30)))
    d.serve(stop)
    assert w.scrapes == [naive(2026, 11, 16, 6)] and w.mails == []  # the 08:00 report never started
    with w.db.connect() as conn:
        rows = conn.execute(select(Fetch.status).where(Fetch.at == naive(2026, 11, 16, 6))).all()
    assert [r.status for r in rows] == ["ok", "ok"]
    assert w.log[-1].endswith("stopped")


def test_schedule_in_a_time_zone_and_crontab_weekdays(tmp_path: Path) -> None:
    w = World(tmp_path, {"scrape": "0 6 * * *", "report": "30 8 * * 1", "timezone": "Asia/Tokyo"})
    scrape, report = parse_schedule(w.cfg)
    assert next_after(scrape, utc(2026, 11, 16)) == utc(2026, 11, 16, 21)  # 06:00 in Tokyo
    assert next_after(report, utc(2026, 11, 16)).astimezone(UTC) == utc(
        2026, 11, 22, 23, 30
    )  # Monday in Tokyo
    assert crontab_weekdays("0 8 * * 1") == "0 8 * * mon"
    assert crontab_weekdays("0 8 * * 0,7") == "0 8 * * sun"
    assert crontab_weekdays("0 8 * * 1-5") == "0 8 * * mon,tue,wed,thu,fri"
    assert crontab_weekdays("0 8 * * */2") == "0 8 * * sun,tue,thu,sat"
    assert crontab_weekdays("0 8 * * mon-fri") == "0 8 * * mon-fri"
    assert crontab_weekdays("*/15 * * * *") == "*/15 * * * *"


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"scrape": "61 6 * * *"}, "schedule.scrape: invalid cron expression '61 6 * * *'"),
        ({"report": "0 8 * *"}, "schedule.report: invalid cron expression '0 8 * *': Wrong number of fields"),
        ({"report": "0 8 * * 9"}, "schedule.report: invalid cron expression '0 8 * * 9'"),
        ({"timezone": "Mars/Olympus"}, "schedule.timezone: unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_schedules_are_one_line_errors(tmp_path: Path, schedule: dict[str, str], message: str) -> None:
    w = World(tmp_path, schedule)
    with pytest.raises(ConfigError, match="^.*config.toml: " + message.replace("*", r"\*")):
        parse_schedule(w.cfg)
    lines = "\n".join(f'{k} = "{v}"' for k, v in schedule.items())
    (tmp_path / "config.toml").write_text(
        f'[storage]\ndatabase = "s.db"\n[schedule]\n{lines}\n', encoding="utf-8"
    )
    result = runner.invoke(app, ["run", "--config", str(tmp_path / "config.toml")])
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1


# The real daemon process ------------------------------------------------------------------------------------


def start_daemon(tmp_path: Path, server: BoardServer) -> subprocess.Popen[str]:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\ndatabase = "d.db"\n[fetch]\nretries = 0\ntimeout = 10\n'
        f'[[boards]]\ncompany = "Acme"\nats = "greenhouse"\ntoken = "acme"\nbase_url = "{server.base_url}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "INFRASIGNAL_CONFIG"}
    return subprocess.Popen(
        [sys.executable, "-c", "from infrasignal.cli import main; main()", "run", "--config", str(config)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip


def wait_for_request(server: BoardServer, path: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not server.requests_to(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"the daemon never started its catch-up scrape (exit {proc.returncode}): {err}")
        time.sleep(0.02)


PATH = "/v1/boards/acme/jobs"


def test_sigterm_finishes_the_running_scrape(board_server: BoardServer, tmp_path: Path) -> None:
    board_server.route("GET", PATH, gh_board(gh_job(1, "Site Lead", "Quincy, WA")), faults=[Fault.delay(0.5)])
    proc = start_daemon(tmp_path, board_server)
    wait_for_request(board_server, PATH, proc)  # the catch-up scrape of a new database is under way
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping after the running job" in err and err.rstrip().endswith("stopped"), err
    db = open_store(f"sqlite:///{tmp_path / 'd.db'}")
    with db.connect() as conn:
        statuses = [r.status for r in conn.execute(select(Fetch.status))]
    assert statuses == ["ok"], err  # the scrape finished and its board was written whole


def test_second_signal_cancels_and_writes_nothing_half(board_server: BoardServer, tmp_path: Path) -> None:
    board_server.route("GET", PATH, gh_board(gh_job(1, "Site Lead", "Quincy, WA")), faults=[Fault.delay(8)])
    proc = start_daemon(tmp_path, board_server)
    wait_for_request(board_server, PATH, proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "cancelled" in err, err
    db = open_store(f"sqlite:///{tmp_path / 'd.db'}")
    with db.connect() as conn:
        assert conn.execute(select(Fetch.id)).all() == []  # the board was not written at all
