"""Several `infrasignal scrape` processes against one PostgreSQL store, over the board simulator.

Used by tests/test_postgres.py (every board fetched once per round, a killed worker's boards picked up) and,
run as a script, to measure boards per second with 1, 2 and 3 worker processes:

    cd tests && ../.venv/bin/python -m support.pgworkers --boards 300 --latency 0.1
    (the server: $INFRASIGNAL_TEST_PG, else a local one; each run gets a fresh schema)

Each worker is a real `infrasignal scrape` subprocess with `PGAPPNAME=worker-<i>`, so a test can tell from
`pg_stat_activity` which worker holds which board.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from support.simulator import SimBoard, Simulator

CLI = "from infrasignal.cli import main; main()"


def watchlist(
    boards: int,
    postings: int = 20,
    latency: float = 0.0,
    churn: float = 0.2,
    edits: float = 0.05,
    seed: int = 7,
) -> Simulator:
    """A simulator with `boards` Greenhouse boards on one host (one request per board, like the real API
    host that thousands of boards share), each answering after `latency` seconds; `churn` and `edits` are
    the daily chances that a posting is replaced or its title edited."""
    sim = Simulator(seed=seed, hosts=1)
    sim.add_boards("greenhouse", boards, postings=postings, latency=latency, churn=churn, edits=edits)
    return sim


def write_config(sim: Simulator, folder: Path, database_url: str, **fetch: Any) -> Path:
    settings = {"retries": 1, "backoff": 0.05, "timeout": 30.0} | fetch
    return sim.write_config(folder, database=database_url, fetch=settings)


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[str]

    def wait(self, timeout: float = 120.0) -> tuple[int, list[dict[str, Any]], str]:
        """(exit code, the summary records it printed, stderr)."""
        out, err = self.process.communicate(timeout=timeout)
        records = json.loads(out) if out.strip() else []
        return self.process.returncode, records, err


def start_workers(config: Path, count: int, as_of: str, first: int = 0) -> list[Worker]:
    workers = []
    for i in range(first, first + count):
        env = os.environ | {"PGAPPNAME": f"worker-{i}"}
        args = [sys.executable, "-c", CLI, "scrape", "--config", str(config), "--as-of", as_of]
        process = subprocess.Popen(
            [*args, "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        workers.append(Worker(f"worker-{i}", process))
    return workers


def requests_per_board(sim: Simulator) -> Counter[str]:
    """List requests per board token since the last `sim.reset_stats()`."""
    return Counter(h.board for h in sim.hits_for() if h.board is not None)


def fetch_count(db: Engine) -> int:
    from infrasignal.tables import Fetch

    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Fetch)).scalar_one())


def open_postings(db: Engine) -> dict[str, set[str]]:
    """board name -> external ids of its open postings."""
    from infrasignal.tables import Board, Posting

    out: dict[str, set[str]] = {}
    with db.connect() as conn:
        rows = conn.execute(
            select(Board.name, Posting.external_id)
            .join(Posting, Posting.board_id == Board.id)
            .where(Posting.status == "open")
        )
        for name, external_id in rows:
            out.setdefault(name, set()).add(external_id)
    return out


def expected_postings(boards: list[SimBoard], sim: Simulator) -> dict[str, set[str]]:
    return {b.label: set(sim.served_ids(b)) for b in boards}


def measure(
    server_url: str | None, workers: int, boards: int, latency: float, postings: int
) -> dict[str, Any]:
    """Two rounds with `workers` processes: the baseline (every posting new: parse, classify, insert) and
    the next day (2% of postings replaced, 1% edited: about half the boards answer 304). Boards per second
    counts from the first process start to the last exit, so process start-up is included. Without a
    server URL: one process on a SQLite file, for comparison."""
    from contextlib import nullcontext

    from infrasignal.store import open_store
    from support.pg import fresh_schema

    sim = watchlist(boards, postings=postings, latency=latency, churn=0.02, edits=0.01)
    out: dict[str, Any] = {"store": "postgresql" if server_url else "sqlite", "workers": workers}
    out |= {"boards": boards, "latency": latency}
    schema = fresh_schema(server_url) if server_url else nullcontext("")
    with sim, schema as pg_url, tempfile.TemporaryDirectory() as folder:
        url = pg_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        config = write_config(sim, Path(folder), url)
        open_store(url).dispose()  # create the schema first: its one-off cost is not a scrape's
        for day, as_of in ((1, "2026-11-16T06:00:00Z"), (2, "2026-11-17T06:00:00Z")):
            sim.set_day(day)
            sim.reset_stats()
            started = time.monotonic()
            results = [w.wait(timeout=1800) for w in start_workers(config, workers, as_of)]
            seconds = time.monotonic() - started
            name = "baseline" if day == 1 else "next_day"
            out[name] = {
                "seconds": round(seconds, 2),
                "boards_per_second": round(boards / seconds, 1),
                "exit_codes": [code for code, _, _ in results],
                "boards_per_worker": [len(records) for _, records, _ in results],
                "requests": sim.request_count,
            }
            errors = [err.strip().splitlines()[-1] for code, _, err in results if code != 0 and err.strip()]
            if errors:
                out[name]["errors"] = errors
        db = open_store(url)
        out["recorded"] = fetch_count(db)
        db.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    from support.pg import find_server

    parser = argparse.ArgumentParser(description="Boards per second with 1..N scrape workers on PostgreSQL.")
    parser.add_argument("--boards", type=int, default=300)
    parser.add_argument("--postings", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the simulator waits per request")
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sqlite", action="store_true", help="also one process on a SQLite file")
    args = parser.parse_args(argv)
    if args.sqlite:
        print(json.dumps(measure(None, 1, args.boards, args.latency, args.postings)), flush=True)
    server, why = find_server()
    if server is None:
        print(why, file=sys.stderr)
        return 1
    for n in [int(x) for x in args.workers.split(",")]:
        for _ in range(args.repeat):
            print(json.dumps(measure(server, n, args.boards, args.latency, args.postings)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
