"""`make bench`: scrape throughput against the board simulator, side by side with a minimal Scrapy spider;
the cost of an unchanged re-scrape; query and start-up times on a database of 1,000,000 postings of
history; classifier throughput (bench/bench_classify.py, when present). Prints a Markdown report with the
machine and the exact commands, and saves it (and any profile) under the cache directory.

    .venv/bin/python bench/run.py [--boards 1000] [--postings 100] [--concurrency 16] [--rounds 3] [--history 1000000]
                                  [--skip-scrape] [--skip-scrapy] [--skip-queries] [--profile]

The scrape benchmark runs in rounds (`--rounds`, default 3): Scrapy, infrasignal's first scrape and its
unchanged re-scrape back to back in each, and the report gives medians and the ratio within each round (on a
shared machine the speed drifts by a quarter within minutes, so only runs made together compare).

Every measured command runs in a subprocess of its own, under a small wrapper that reports its wall time,
CPU time (user + system, of all its processes) and peak RSS (getrusage of the waited child: its largest
process; and, sampled from /proc every 50 ms, all its processes together, for a scrape that classifies
and writes in a worker process), so the figures are those of a user running the CLI. The classifier's
gazetteer index is built beforehand into a cache of the benchmark's own. The simulator (tests/support/simulator.py) runs in another process on loopback; on a
2-core machine it shares the cores with the measured process, the same for infrasignal and for Scrapy.

The package's bytecode is compiled first, as `pip install` does for an installed package: this checkout is
an editable install, and where PYTHONDONTWRITEBYTECODE is set every measured run would recompile it.

The history database is generated directly with SQL inserts into a schema created by `open_store` and
cached in $INFRASIGNAL_BENCH_CACHE (default: <tmp>/infrasignal-bench), keyed by the schema, so re-runs
skip the generation. `--profile` also runs one scrape of 200 boards in-process under pyinstrument (store
writes included) and the roles query, and saves the text profiles beside the report.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.simulator import CITIES, INFRA_TITLES, OTHER_TITLES, bench_simulator  # noqa: E402

PY = sys.executable
CLI = [PY, "-c", "from infrasignal.cli import main; main()"]
SIMULATOR = ROOT / "tests" / "support" / "simulator.py"
SPIDER = ROOT / "bench" / "scrapy_spider.py"
CRAWL_ONLY = ROOT / "bench" / "crawl_only.py"
CACHE = Path(os.environ.get("INFRASIGNAL_BENCH_CACHE") or Path(tempfile.gettempdir()) / "infrasignal-bench")
KINDS = ["greenhouse", "lever", "ashby"]
T1, T2, T3 = "2026-11-16T06:00:00Z", "2026-11-17T06:00:00Z", "2026-11-18T06:00:00Z"
HISTORY_NOW = datetime(2026, 11, 20, 6, 0, 0)
GEN_VERSION = 7
QUERY_TIMEOUT = 60.0

WRAPPER = """
import json, os, resource, subprocess, sys, threading, time
cmd, timeout = json.loads(sys.argv[1]), float(sys.argv[3])
tree_peak = [0]

def tree_rss(root):
    # resident KB of `root` and its descendants, from /proc (0 where there is no /proc)
    parents, rss = {}, {}
    for pid in (p for p in os.listdir("/proc") if p.isdigit()) if os.path.isdir("/proc") else ():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(pid)], rss[int(pid)] = int(fields[1]), int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total

started = time.perf_counter()
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

def sample():
    while proc.poll() is None:
        tree_peak[0] = max(tree_peak[0], tree_rss(proc.pid))
        time.sleep(0.05)

threading.Thread(target=sample, daemon=True).start()
try:
    stdout, stderr = proc.communicate(timeout=timeout)
    rc = proc.returncode
except subprocess.TimeoutExpired:
    proc.kill()
    stdout, stderr = proc.communicate()
    rc = -9
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[2], "w") as out:
    json.dump({"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime, "maxrss_kb": usage.ru_maxrss,
               "tree_rss_kb": tree_peak[0], "rc": rc}, out)
sys.stdout.buffer.write(stdout)
sys.stderr.buffer.write(stderr)
"""


@dataclass
class Measured:
    """One command's run: wall and CPU seconds (all its processes), peak RSS in MB of its largest process
    and of all its processes together (sampled every 50 ms), exit code and output."""

    cmd: list[str]
    wall: float
    cpu: float
    rss_mb: float
    rc: int
    stdout: str
    stderr: str
    tree_rss_mb: float = 0.0


def measure(cmd: list[str], timeout: float = 600) -> Measured:
    """Run `cmd` under the wrapper; a command still running after `timeout` seconds is killed (rc -9)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        stats_file = f.name
    done = subprocess.run(
        [PY, "-c", WRAPPER, json.dumps(cmd), stats_file, str(timeout)], capture_output=True, text=True
    )
    stats = json.loads(Path(stats_file).read_text())
    os.unlink(stats_file)
    return Measured(
        cmd,
        stats["wall"],
        stats["user"] + stats["sys"],
        stats["maxrss_kb"] / 1024,
        stats["rc"],
        done.stdout,
        done.stderr,
        stats["tree_rss_kb"] / 1024,
    )


def shown(cmd: list[str]) -> str:
    """A command as a user would type it."""
    if cmd[: len(CLI)] == CLI:
        cmd = ["infrasignal", *cmd[len(CLI) :]]
    elif cmd[:1] == [PY]:
        cmd = ["python", *[os.path.relpath(c, ROOT) if c.startswith(str(ROOT)) else c for c in cmd[1:]]]
    return " ".join(c if " " not in c else repr(c) for c in cmd)


# --- machine ------------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    versions = {}
    for name in ("httpx2", "sqlalchemy", "scrapy", "twisted"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "commit": (commit.stdout.strip() or "?") + (" (+ uncommitted changes)" if dirty else ""),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def warm_classifier_cache() -> None:
    """The classifier's gazetteer index in a cache of the benchmark's own, built before any measurement:
    the scrape must not measure a build (10-20 s), whatever else shares ~/.cache/infrasignal."""
    os.environ["INFRASIGNAL_CACHE_DIR"] = str(CACHE / "classifier")
    subprocess.run(
        [PY, "-c", "from infrasignal.classify.gazetteer import load_index; load_index()"], check=True
    )


# --- the simulator -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def simulator(boards: int, postings: int, etag: bool = True) -> Iterator[str]:
    """The simulator in its own process, all bodies rendered before it listens; yields its base URL."""
    cmd = [PY, str(SIMULATOR), "--boards", str(boards), "--postings", str(postings), "--warm"]
    cmd += ["--kinds", ",".join(KINDS)] + ([] if etag else ["--no-etag"])
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator did not start")
        yield json.loads(line)["urls"][0]
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_scrape_config(
    path: Path, url: str, database: Path, boards: int, postings: int, concurrency: int
) -> None:
    sim = bench_simulator(boards, postings, 7, 1, KINDS, True)
    lines = ["[storage]", f"database = {json.dumps(str(database))}", "", "[fetch]"]
    lines += [f"concurrency = {concurrency}", f"per_host = {concurrency}", "timeout = 60.0", "retries = 1"]
    for b in sim.boards:
        lines += ["", "[[boards]]", f'company = "{b.company}"', f'ats = "{b.ats}"', f'token = "{b.token}"']
        lines.append(f'base_url = "{url}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def scrape_summary(m: Measured) -> tuple[int, dict[str, int]]:
    """(postings found, statuses) from `scrape --format json` output."""
    try:
        records = json.loads(m.stdout)
    except ValueError:
        raise RuntimeError(f"scrape failed ({m.rc}): {m.stderr[-2000:]}") from None
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return sum(int(r["found"]) for r in records), statuses


def rows_rewritten(database: Path, since: str) -> str:
    """How many posting rows carry a `last_seen` from `since` on: the rows the unchanged re-scrape wrote."""
    stamp = since.replace("T", " ").removesuffix("Z")
    with closing(sqlite3.connect(str(database))) as conn:
        (written,) = conn.execute("SELECT count(*) FROM posting WHERE last_seen >= ?", (stamp,)).fetchone()
        (total,) = conn.execute("SELECT count(*) FROM posting").fetchone()
    return f"{written:,} of {total:,}"


# --- the history database --------------------------------------------------------------------------------------

MARKETS = {
    "Ashburn": "Northern Virginia",
    "Dallas": "Dallas",
    "Phoenix": "Phoenix",
    "San Francisco": "Silicon Valley",
    "Quincy": "Quincy",
    "London": "London",
    "Dublin": "Dublin",
    "Frankfurt": "Frankfurt",
    "Amsterdam": "Amsterdam",
    "Paris": "Paris",
    "Sydney": "Sydney",
    "Melbourne": "Melbourne",
    "Tokyo": "Tokyo",
    "Osaka": "Osaka",
    "Singapore": "Singapore",
    "Seoul": "Seoul",
    "Toronto": "Toronto",
    "Zurich": "Zurich",
}
DISCIPLINES = [
    "electrical",
    "mechanical",
    "energy",
    "contracts",
    "construction",
    "operations",
    "sourcing",
    "site",
    "capacity",
]


def _schema_key() -> str:
    """A hash of the schema a fresh store gets: a schema change regenerates the cached database."""
    from infrasignal.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        engine = open_store(f"sqlite:///{tmp}/schema.db")
        engine.dispose()
        with sqlite3.connect(f"{tmp}/schema.db") as conn:
            sql = "\n".join(r[0] or "" for r in conn.execute("SELECT sql FROM sqlite_master ORDER BY name"))
    return hashlib.sha256(f"{GEN_VERSION}\n{sql}".encode()).hexdigest()[:12]


def history_db(n_postings: int) -> tuple[Path, float | None]:
    """The cached history database (path, seconds spent generating it now, or None when cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"history-{n_postings}-{_schema_key()}.db"
    if path.exists():
        return path, None
    for stale in CACHE.glob(f"history-{n_postings}-*.db*"):  # an older schema's database
        stale.unlink()
    started = time.perf_counter()
    tmp = path.with_suffix(".partial")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    from infrasignal.store import open_store

    open_store(f"sqlite:///{tmp}").dispose()
    _fill(tmp, n_postings)
    tmp.rename(path)
    return path, time.perf_counter() - started


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


class _Table:
    """Bulk inserts into one table; NOT NULL columns the generator does not know get a typed default."""

    def __init__(self, conn: sqlite3.Connection, name: str, columns: list[str]) -> None:
        info = conn.execute(f"PRAGMA table_info({name})").fetchall()
        known = {r[1] for r in info}
        missing = [c for c in columns if c not in known]
        if missing:
            raise RuntimeError(f"table {name} has no columns {missing}: update bench/run.py")
        self.extra: list[tuple[str, Any]] = []
        for _, col, decl, notnull, default, pk in info:
            if col in columns or pk or not notnull or default is not None:
                continue
            decl = (decl or "").upper()
            value: Any = 0 if any(t in decl for t in ("INT", "BOOL", "FLOAT", "REAL", "NUM")) else ""
            if "DATE" in decl or "TIME" in decl:
                value = _stamp(HISTORY_NOW)
            self.extra.append((col, value))
        self.columns = columns + [c for c, _ in self.extra]
        self.sql = (
            f"INSERT INTO {name} ({', '.join(self.columns)}) VALUES ({', '.join('?' * len(self.columns))})"
        )
        self.conn = conn
        self.rows: list[tuple[Any, ...]] = []
        self.tail = tuple(v for _, v in self.extra)

    def add(self, *row: Any) -> None:
        self.rows.append(row + self.tail)
        if len(self.rows) >= 50_000:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.conn.executemany(self.sql, self.rows)
            self.rows = []


def _fill(path: Path, n: int) -> None:
    """1M postings of two years' history: board sizes skewed, ~12% infra, real cities, places, tags,
    versions, events and fetches, consistent with each other."""
    rng = random.Random(1_000_003)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    # secondary indexes are built once at the end (much faster than maintaining them row by row)
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    conn.execute("BEGIN")
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    n_boards = max(10, n // 400)
    ats = ["greenhouse", "lever", "ashby", "workday"]
    boards = _Table(
        conn,
        "board",
        ["id", "name", "company", "ats", "token", "created_at", "baseline_at", "last_success_at", "listed_at"],
    )
    start = HISTORY_NOW - timedelta(days=730)
    baselines = []
    for i in range(1, n_boards + 1):
        baseline = start + timedelta(days=rng.uniform(0, 200))
        baselines.append(baseline)
        boards.add(
            i,
            f"Company {i:05d}",
            f"Company {i:05d}",
            ats[i % 4],
            f"co{i:05d}",
            _stamp(baseline),
            _stamp(baseline),
            _stamp(HISTORY_NOW),
            _stamp(HISTORY_NOW),  # the last listing: the open postings' last_seen
        )
    boards.flush()
    weights = [1 / (rank**0.8) for rank in range(1, n_boards + 1)]
    rng.shuffle(weights)
    board_of = rng.choices(range(1, n_boards + 1), weights=weights, k=n)
    city_of = rng.choices(range(len(CITIES)), weights=[c[4] for c in CITIES], k=n)

    posting_cols = [
        "id", "board_id", "external_id", "title", "department", "team", "url", "location", "description",
        "content_hash", "description_hash", "first_seen", "last_seen", "closed_at", "status", "baseline",
        "infra", "unresolved_locations",
    ]  # fmt: skip
    posts = _Table(conn, "posting", posting_cols)
    places = _Table(conn, "posting_place", ["posting_id", "city", "region", "country", "remote"])
    tags = _Table(conn, "posting_tag", ["posting_id", "kind", "value", "evidence"])
    versions = _Table(
        conn,
        "posting_version",
        ["posting_id", "at", "changed", "title", "department", "location", "description_hash"],
    )
    events = _Table(conn, "event", ["posting_id", "board_id", "at", "kind", "detail"])
    span = (HISTORY_NOW - start).total_seconds()
    # Ids follow first_seen, as in a store the scraper wrote: a posting gets its id when it is first seen (a
    # week's postings sit together at the end of the table, not scattered through it).
    firsts = [
        max(start + timedelta(seconds=rng.uniform(0, span)), baselines[board_of[i] - 1]) for i in range(n)
    ]
    order = sorted(range(n), key=firsts.__getitem__)
    board_of, city_of, firsts = (
        [board_of[i] for i in order],
        [city_of[i] for i in order],
        [firsts[i] for i in order],
    )
    for pid in range(1, n + 1):
        board = board_of[pid - 1]
        first = firsts[pid - 1]
        is_baseline = first == baselines[board - 1]
        infra = rng.random() < 0.12
        title = rng.choice(INFRA_TITLES if infra else OTHER_TITLES)
        city, region, country, iso2, _ = CITIES[city_of[pid - 1]]
        location = f"{city}, {region}" if iso2 == "US" else f"{city}, {country}"
        life = timedelta(days=rng.expovariate(1 / 60))
        closed = first + life < HISTORY_NOW
        closed_at = first + life if closed else None
        last_seen = closed_at - timedelta(hours=12) if closed_at else HISTORY_NOW
        desc_hash = f"{rng.getrandbits(64):016x}"
        posts.add(
            pid, board, f"{board}-{pid}", title, "Data Center Infrastructure" if infra else "Engineering", "",
            f"https://jobs.example.com/{board}/{pid}", location, "", f"{rng.getrandbits(64):016x}", desc_hash,
            _stamp(first), _stamp(last_seen), _stamp(closed_at) if closed_at else None,
            "closed" if closed else "open", int(is_baseline), int(infra), 0,
        )  # fmt: skip
        places.add(pid, city, region, iso2, 0)
        if rng.random() < 0.1:
            other = CITIES[rng.randrange(len(CITIES))]
            places.add(pid, other[0], other[1], other[3], 0)
        market = MARKETS.get(city)
        if market:
            tags.add(pid, "market", market, "")
        if infra:
            for d in rng.sample(DISCIPLINES, rng.choice((1, 1, 2))):
                tags.add(pid, "discipline", d, '["title:' + title.split()[0].lower() + '"]')
        versions.add(pid, _stamp(first), "created", title, "", location, desc_hash)
        events.add(pid, board, _stamp(first), "baseline" if is_baseline else "new", "")
        if rng.random() < 0.08:
            changed_at = first + life * rng.random()
            if changed_at < HISTORY_NOW:
                versions.add(pid, _stamp(changed_at), "title", "Senior " + title, "", location, desc_hash)
                events.add(pid, board, _stamp(changed_at), "changed", "title")
        if closed_at:
            events.add(pid, board, _stamp(closed_at), "closed", "")
    for table in (posts, places, tags, versions, events):
        table.flush()
    fetch = _Table(conn, "fetch", ["board_id", "at", "status", "rule", "found"])
    for board in range(1, n_boards + 1):
        for day in range(10):
            fetch.add(board, _stamp(HISTORY_NOW - timedelta(days=day)), "ok", "complete", 0)
    fetch.flush()
    for _, sql in sorted(indexes):  # a fixed creation order: it steers SQLite's plans without statistics
        conn.execute(sql)
    from infrasignal.presence import presence_sql  # the summary the store keeps for `signals`

    conn.execute(presence_sql("1 = 1"), {"yes": 1, "no": 0})
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


# --- scrape throughput ---------------------------------------------------------------------------------------


@dataclass
class ScrapeRound:
    """One round of the scrape benchmark: Scrapy, then infrasignal's first scrape and its unchanged re-scrape
    (on a fresh database), back to back so that the ratios compare runs made under the same load."""

    scrapy: Measured | None
    items: int
    first: Measured
    found: int
    statuses: dict[str, int]
    second: Measured
    statuses2: dict[str, int]


def scrape_rows(args: argparse.Namespace, row: Any, notes: list[str]) -> None:
    """The scrape rows of the report: `args.rounds` interleaved rounds, medians over them (the machine's
    speed drifts by a quarter within minutes on a shared host; a ratio is taken within each round)."""
    work = Path(tempfile.mkdtemp(prefix="bench-scrape-", dir=CACHE))
    config = work / "config.toml"
    rounds: list[ScrapeRound] = []
    crawl_m: Measured | None = None
    with simulator(args.boards, args.postings) as url:
        for n in range(args.rounds):
            database = work / f"bench-{n}.db"
            write_scrape_config(config, url, database, args.boards, args.postings, args.concurrency)
            scrapy_m, items = None, 0
            if not args.skip_scrapy:
                cmd = [PY, str(SPIDER), "--base-url", url, "--boards", str(args.boards)]
                cmd += ["--postings", str(args.postings), "--concurrency", str(args.concurrency)]
                scrapy_m = measure(cmd)
                if scrapy_m.rc == 0:
                    items = json.loads(scrapy_m.stdout.strip().splitlines()[-1])["items"]
            if crawl_m is None:
                crawl_m = measure([PY, str(CRAWL_ONLY), "--config", str(config)])
            first = measure([*CLI, "scrape", "--config", str(config), "--as-of", T1, "--format", "json"])
            found, statuses = scrape_summary(first)
            second = measure([*CLI, "scrape", "--config", str(config), "--as-of", T2, "--format", "json"])
            _, statuses2 = scrape_summary(second)
            rounds.append(ScrapeRound(scrapy_m, items, first, found, statuses, second, statuses2))
            print(f"  (round {n + 1} of {args.rounds} done)", file=sys.stderr, flush=True)
        notes.append(
            f"Posting rows the unchanged re-scrape rewrote: {rows_rewritten(database, T2)} (a not-modified "
            "answer is recorded on its board, seen.py)."
        )
    with simulator(args.boards, args.postings, etag=False) as url:
        write_scrape_config(config, url, database, args.boards, args.postings, args.concurrency)
        third = measure([*CLI, "scrape", "--config", str(config), "--as-of", T3, "--format", "json"])
        _, statuses3 = scrape_summary(third)
    shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    of = f"median of {len(rounds)} rounds"
    last = rounds[-1]
    scrapy_runs = [r for r in rounds if r.scrapy is not None and r.scrapy.rc == 0]
    if scrapy_runs:
        rates = [r.items / r.scrapy.wall for r in scrapy_runs if r.scrapy is not None]
        row(
            "Scrapy spider: fetch + parse to items, no storage",
            f"{med(rates):,.0f} postings/s ({of}: {', '.join(f'{x:,.0f}' for x in rates)}), "
            f"peak RSS {max(r.scrapy.rss_mb for r in scrapy_runs if r.scrapy):.0f} MB",
            last.scrapy.cmd if last.scrapy else "",
        )
    if crawl_m is not None:
        crawled = json.loads(crawl_m.stdout.strip().splitlines()[-1])["postings"] if crawl_m.rc == 0 else 0
        row(
            "infrasignal fetch + parse only (Engine + crawl_board, no classify, no store), round 1",
            f"{crawled / crawl_m.wall:,.0f} postings/s ({crawled:,} in {crawl_m.wall:.1f} s wall, "
            f"{crawl_m.cpu:.1f} s CPU), peak RSS {crawl_m.rss_mb:.0f} MB",
            crawl_m.cmd,
        )
        if scrapy_runs and crawled and rounds[0].scrapy is not None:
            row(
                "same stage, infrasignal / Scrapy in round 1 (wall-clock throughput ratio)",
                f"{(crawled / crawl_m.wall) / (rounds[0].items / rounds[0].scrapy.wall):.2f}x",
                "ratio of the fetch + parse run and round 1's Scrapy run",
            )
    firsts = [r.found / r.first.wall for r in rounds]
    row(
        f"infrasignal scrape, first run ({args.boards:,} boards x {args.postings}: fetch, parse, classify, store)",
        f"{med(firsts):,.0f} postings/s ({of}: {', '.join(f'{x:,.0f}' for x in firsts)}; CPU "
        f"{med(r.first.cpu for r in rounds):.1f} s), peak RSS {max(r.first.rss_mb for r in rounds):.0f} MB "
        f"(largest process), {max(r.first.tree_rss_mb for r in rounds):.0f} MB (all processes together); "
        f"boards {last.statuses}",
        last.first.cmd,
    )
    if scrapy_runs:
        ratios = [(r.found / r.first.wall) / (r.items / r.scrapy.wall) for r in scrapy_runs if r.scrapy]
        row(
            "infrasignal end to end / Scrapy fetch + parse (wall-clock throughput ratio, each round's pair)",
            f"{med(ratios):.2f}x ({of}: {', '.join(f'{x:.2f}' for x in ratios)}; target >= 1.0)",
            "first-run row / Scrapy row, round by round",
        )
    walls = [100 * r.second.wall / r.first.wall for r in rounds]
    cpus = [100 * r.second.cpu / r.first.cpu for r in rounds]
    row(
        "unchanged re-scrape, server sends ETags (304)",
        f"{med(r.second.wall for r in rounds):.1f} s wall = {med(walls):.0f}% of the first run's wall "
        f"({of}: {', '.join(f'{x:.0f}%' for x in walls)}), {med(cpus):.0f}% of its CPU (target <= 20%); "
        f"boards {last.statuses2}",
        last.second.cmd,
    )
    row(
        "unchanged re-scrape, no ETags (body hash; paged boards re-parsed), once",
        f"{third.wall:.1f} s wall, {third.cpu:.1f} s CPU = {100 * third.wall / last.first.wall:.0f}% of the "
        f"last round's first run's wall, {100 * third.cpu / last.first.cpu:.0f}% of its CPU; boards {statuses3}",
        third.cmd,
    )
    notes.append(
        f"Scrape: {args.boards:,} simulated boards ({', '.join(KINDS)} in turn), {args.postings} postings each, "
        f"concurrency = per_host = {args.concurrency} for both tools; the simulator runs in its own process "
        "with every body pre-rendered. Each round runs Scrapy, the first scrape and the re-scrape back to back."
    )


# --- profiling ------------------------------------------------------------------------------------------------


def profile_scrape(boards: int, postings: int, concurrency: int) -> Path:
    """One scrape of `boards` boards in-process under pyinstrument, store writes run inline so they show (a
    real round of that size classifies and writes in a worker process, which the profiler would not see)."""
    import asyncio

    from pyinstrument import Profiler

    from infrasignal.config import load_config
    from infrasignal.scrape import scrape
    from infrasignal.store import open_store

    async def inline(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    out = CACHE / "profile-scrape.txt"
    with simulator(boards, postings) as url, tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "config.toml"
        write_scrape_config(cfg_path, url, Path(tmp) / "p.db", boards, postings, concurrency)
        cfg = load_config(cfg_path)
        db = open_store(cfg.database_url)
        original = asyncio.to_thread
        asyncio.to_thread = inline  # type: ignore[assignment]
        try:
            profiler = Profiler()
            profiler.start()
            scrape(cfg, db, cfg.boards, datetime(2026, 11, 16, 6), writer="inline")
            profiler.stop()
        finally:
            asyncio.to_thread = original
    out.write_text(profiler.output_text(unicode=False, color=False), encoding="utf-8")
    return out


def profile_query(config: Path) -> Path:
    from pyinstrument import Profiler

    from infrasignal.cli.app import _register, app

    _register()
    out = CACHE / "profile-roles.txt"
    profiler = Profiler()
    profiler.start()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.suppress(SystemExit):
        app(["roles", "--config", str(config), "--city", "Sydney", "--infra", "--format", "json"])
    profiler.stop()
    out.write_text(profiler.output_text(unicode=False, color=False), encoding="utf-8")
    return out


# --- main -----------------------------------------------------------------------------------------------------


def compile_package() -> str:
    """Compile the package's bytecode (see the module docstring); a note for the report."""
    import compileall

    src = ROOT / "src"
    ok = compileall.compile_dir(str(src), quiet=1)
    where = os.environ.get("PYTHONDONTWRITEBYTECODE")
    return (
        f"The package's bytecode under {src.relative_to(ROOT)}/ was compiled before measuring"
        f"{'' if ok else ' (some files failed to compile)'}; PYTHONDONTWRITEBYTECODE is "
        f"{'set' if where else 'not set'} here."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=1000)
    parser.add_argument("--postings", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="scrape benchmark rounds (medians reported)")
    parser.add_argument("--skip-scrape", action="store_true")
    parser.add_argument("--skip-scrapy", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    # create_all's index order follows string hashing and SQLite breaks plan ties by index order (see
    # tests/test_reliability.py): a fixed seed makes the scrape database, and so the figures, repeatable.
    os.environ["PYTHONHASHSEED"] = "0"
    CACHE.mkdir(parents=True, exist_ok=True)
    compiled = compile_package()
    warm_classifier_cache()
    began = time.perf_counter()
    info = machine()
    rows: list[tuple[str, str, str]] = []  # (what, figure, command)
    notes: list[str] = [compiled]

    def row(what: str, figure: str, cmd: list[str] | str) -> None:
        rows.append((what, figure, cmd if isinstance(cmd, str) else shown(cmd)))
        print(f"  {what}: {figure}", file=sys.stderr, flush=True)

    if not args.skip_scrape:
        scrape_rows(args, row, notes)

    if not args.skip_queries:
        path, generated = history_db(args.history)
        with sqlite3.connect(str(path)) as conn:
            counts = {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("posting", "event", "posting_tag")
            }
        notes.append(
            f"History database: {counts['posting']:,} postings, {counts['event']:,} events, "
            f"{counts['posting_tag']:,} tags ({path.stat().st_size / 1e6:,.0f} MB) "
            + (f"generated in {generated:.0f} s" if generated is not None else "from the cache")
            + f" at {path}."
        )
        qconfig = CACHE / "query-config.toml"
        qconfig.write_text(f"[storage]\ndatabase = {json.dumps(str(path))}\n", encoding="utf-8")
        as_of = HISTORY_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")

        def query(what: str, cmd: list[str], unit: str, runs: int = 3) -> None:
            """The median wall time of `runs` runs; a run over QUERY_TIMEOUT stops the series."""
            results: list[Measured] = []
            for _ in range(runs):
                results.append(measure(cmd, timeout=QUERY_TIMEOUT))
                if results[-1].rc != 0:
                    break
            last = results[-1]
            if last.rc == -9:
                row(what, f"over {QUERY_TIMEOUT:.0f} s (stopped); target < 0.5 s", cmd)
                return
            if last.rc != 0:
                raise RuntimeError(f"{shown(cmd)} failed: {last.stderr[-2000:]}")
            wall = statistics.median(r.wall for r in results)
            size = f", {len(json.loads(last.stdout)):,} {unit}" if unit else ""
            target = 0.5 if unit else 0.3
            row(
                f"{what} (median of {len(results)})",
                f"{wall:.2f} s{size}, peak RSS {last.rss_mb:.0f} MB (target < {target} s)",
                cmd,
            )

        query(
            "roles --city Sydney --infra --format json",
            [*CLI, "roles", "--config", str(qconfig), "--city", "Sydney", "--infra", "--format", "json"],
            "roles",
        )
        help_out = subprocess.run([*CLI, "--help"], capture_output=True, text=True).stdout
        if " signals " in help_out:
            query(
                "signals --since 7d --format json",
                [
                    *CLI,
                    "signals",
                    "--config",
                    str(qconfig),
                    "--since",
                    "7d",
                    "--as-of",
                    as_of,
                    "--format",
                    "json",
                ],
                "signals",
            )
        query("infrasignal --help start-up", [*CLI, "--help"], "", runs=5)
        if args.profile:
            notes.append(f"Profile of the roles query: {profile_query(qconfig)}")

    classify_script = ROOT / "bench" / "bench_classify.py"
    if classify_script.exists():
        m = measure([PY, str(classify_script)])
        for line in m.stdout.strip().splitlines():
            if ":" in line and "/s" in line:
                what, figure = line.split(":", 1)
                row(f"classifier: {what.strip()}", figure.strip(), [PY, str(classify_script)])
            elif line.strip():
                notes.append(f"bench_classify.py: {line.strip()}")

    if args.profile and not args.skip_scrape:
        notes.append(f"Profile of a 200-board scrape: {profile_scrape(200, args.postings, args.concurrency)}")

    report = render(info, rows, notes, time.perf_counter() - began)
    print(report)
    out = CACHE / f"bench-{datetime.now().strftime('%Y%m%d-%H%M%S')}.md"
    out.write_text(report, encoding="utf-8")
    print(f"(saved to {out})", file=sys.stderr)
    return 0


def render(info: dict[str, str], rows: list[tuple[str, str, str]], notes: list[str], seconds: float) -> str:
    lines = [
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, {info['os']}, Python {info['python']}; "
        f"load average at start {info['load']}; commit {info['commit']}; {info['versions']}.",
        "",
        "| measurement | figure | command |",
        "|---|---|---|",
    ]
    lines += [f"| {what} | {figure} | `{cmd}` |" for what, figure, cmd in rows]
    lines += ["", *[f"- {n}" for n in notes], f"- Whole benchmark: {seconds:.0f} s (`make bench`).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
