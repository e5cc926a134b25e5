"""The store writer in a process of its own, so that a scrape parses on one core while it classifies and
writes on another.

`ProcessWriter.start` starts a worker (`python -c "...writer import main; main()"`: a fresh interpreter that
shares no threads, locks or open files with the scrape, the run lock included), connected by a socket pair;
one that was sent no board is stopped at `close`. The worker opens its own connection to the database and
builds the classifier once; `await writer.record(board_id, result, at, fetched_round)` sends it one board's
crawl result (pickled) and returns the board's FetchSummary after the board's transaction has committed
there. Boards are written in the order sent; the boards that arrived while the worker was writing are
written together, up to MAX_GROUP in one transaction (each board at its old or new state whatever
happens; a group that fails is written board by board, see scrape._record_group). The caller bounds how
many results are in flight (the scrape's pipeline semaphore).

The worker never outlives the scrape: it exits when the socket closes, and on Linux the kernel kills it the
moment the scrape process dies, even by SIGKILL, so a board it was writing is rolled back exactly as one
written in-process. If the worker dies first, every board waiting for it fails with WriterDied (the boards
not yet written are not recorded, as after a crash).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import io
import itertools
import os
import pickle
import queue
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

# Callables handed to the worker must be module-level functions (they are pickled by name).
# write(db, group, config, at, classify) -> a summary per board of `group`, a list of (board_id, result,
# fetched_round) written in one transaction (or, if that fails, board by board: scrape._record_group).
WriteFn = Callable[..., list[Any]]
ClassifierFactory = Callable[[Any], Any]  # make_classifier(config) -> classify(posting)

_HEADER = struct.Struct(">Q")  # each message: its length, then a pickle
CHECKPOINT_INTERVAL = 0.25  # seconds between the background checkpoints of a SQLite store
MAX_GROUP = 8  # boards the worker writes in one transaction when several are waiting
_BOOT = "from infrasignal.writer import main; main()"


class WriterDied(RuntimeError):
    """The worker process ended before it answered."""


# A worker process costs a start-up (imports, classifier) that pays off only over enough boards.
PROCESS_WRITER_MIN_BOARDS = 50
WriterMode = Literal["inline", "process"]


def writer_mode(n_boards: int) -> WriterMode:
    """Where a round of `n_boards` boards is classified and written: "process" for rounds of
    PROCESS_WRITER_MIN_BOARDS boards or more on a machine with two cores or more, else "inline" (the
    INFRASIGNAL_WRITER environment variable forces either)."""
    forced = os.environ.get("INFRASIGNAL_WRITER", "").strip().lower()
    if forced in ("inline", "process"):
        return "inline" if forced == "inline" else "process"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return "process" if n_boards >= PROCESS_WRITER_MIN_BOARDS and cores >= 2 else "inline"


@dataclass
class Spawned:
    """A worker process started ahead of its ProcessWriter (`spawn`): until it is sent its setup it only
    imports what writing needs, then waits."""

    proc: subprocess.Popen[bytes]
    sock: socket.socket
    adopted: bool = False

    def discard(self) -> None:
        """Stop a worker no ProcessWriter took (idempotent; one that was taken is the writer's to close)."""
        if self.adopted:
            return
        self.adopted = True
        self.proc.kill()  # it was sent nothing: there is nothing to finish (and it may still be importing)
        self.proc.wait()
        self.sock.close()


def spawn() -> Spawned:
    """Start a worker process now. The CLI starts one before it imports the store and the fetch engine, so
    that the worker's own imports (half a second) overlap the scrape's instead of following them; it is
    handed to the round with `scrape(..., worker=...)`."""
    ours, theirs = socket.socketpair()
    # The worker imports infrasignal (and unpickles) from the same paths as this process.
    path = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.Popen(
        [sys.executable, "-c", _BOOT, str(theirs.fileno()), str(os.getpid())],
        pass_fds=(theirs.fileno(),),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # the scrape's stdout is its report
        env={**os.environ, "PYTHONPATH": path},
    )
    theirs.close()
    return Spawned(proc, ours)


class ProcessWriter:
    """Writes boards in a worker process; see the module docstring. Use it, and close it, on the thread that
    runs the scrape's event loop (on Linux the worker is tied to that thread's life).

    The socket is driven by two threads of this process, not by the event loop: a board's message is ~80 KB
    and the kernel buffers about two, so a loop busy parsing a burst of boards for 100 ms left the worker
    waiting for its next board; the sender thread refills the socket whenever the worker drains it (it
    needs the GIL for a moment only, which the loop yields every few milliseconds). Measured on a
    1,000-board first scrape: the worker waited 3.9 s for messages with the loop sending."""

    def __init__(
        self,
        url: str,
        config: Any,
        write: WriteFn,
        make_classify: ClassifierFactory,
        spawned: Spawned | None = None,
    ) -> None:
        self._setup = pickle.dumps((url, config, write, make_classify), pickle.HIGHEST_PROTOCOL)
        self._spawned = spawned  # a worker already started, used instead of starting one
        self._starting: asyncio.Task[None] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()  # None: no more messages
        self._replies: asyncio.Queue[tuple[bool, Any] | None] = asyncio.Queue()  # None: the worker ended
        self._reader_task: asyncio.Task[None] | None = None
        self._threads: list[threading.Thread] = []
        self._sock: socket.socket | None = None
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._died: WriterDied | None = None
        self._closing = False
        self._sent = 0

    def start(self) -> None:
        """Start the worker in the background (its imports and classifier load then overlap the first
        fetches); `record` waits for it. Call from a coroutine."""
        self._started()

    def _started(self) -> asyncio.Task[None]:
        if self._starting is None:
            self._starting = asyncio.create_task(self._start())
        return self._starting

    @property
    def used(self) -> bool:
        """Whether a board was sent to the worker."""
        return self._sent > 0

    async def record(self, board_id: int, result: Any, at: datetime, fetched_round: int | None) -> Any:
        """Write one board in the worker; its summary once committed (or the exception it raised)."""
        self._sent += 1
        await self._started()
        if self._died is not None:
            raise self._died
        payload = pickle.dumps((board_id, result, at, fetched_round), pickle.HIGHEST_PROTOCOL)
        reply = asyncio.get_running_loop().create_future()
        self._waiting.append(reply)  # replies come in the order messages are queued (no await between)
        self._outbox.put(payload)
        return await reply

    async def _start(self) -> None:
        spawned = self._spawned if self._spawned is not None and not self._spawned.adopted else spawn()
        spawned.adopted = True
        self._proc, self._sock = spawned.proc, spawned.sock
        loop = asyncio.get_running_loop()
        self._outbox.put(self._setup)
        self._threads = [
            threading.Thread(
                target=_send_all, args=(spawned.sock, self._outbox), name="writer-send", daemon=True
            ),
            threading.Thread(
                target=_read_all, args=(spawned.sock, loop, self._replies), name="writer-replies", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        self._reader_task = asyncio.create_task(self._read_replies())

    async def close(self, cancel: bool = False) -> None:
        """Let the worker finish the boards sent and exit; with `cancel`, stop it now (the board it is
        writing is rolled back). A worker that was sent nothing is stopped at once."""
        if self._starting is not None:
            with contextlib.suppress(Exception):  # a failed start was reported to the boards sent
                await self._starting
        if self._proc is None:  # never started (a worker spawned ahead is its spawner's to discard)
            return
        self._closing = True
        stop = cancel or not self._sent
        if stop:
            self._proc.kill()
        self._outbox.put(None)  # the sender ends the stream once the queued boards are sent
        code = await asyncio.to_thread(self._proc.wait)
        if self._reader_task is not None:
            await self._reader_task
        for thread in self._threads:
            await asyncio.to_thread(thread.join)
        if self._sock is not None:
            self._sock.close()
        if code != 0 and not stop:
            raise WriterDied(f"the store writer process exited with code {code}")

    async def _read_replies(self) -> None:
        while (item := await self._replies.get()) is not None:
            ok, value = item
            reply = self._waiting.popleft()
            if reply.done():  # its caller was cancelled
                continue
            if ok:
                reply.set_result(value)
            else:
                reply.set_exception(value)
        if self._closing and not self._waiting:
            return
        code = await asyncio.to_thread(self._proc.wait) if self._proc is not None else None
        self._died = WriterDied(f"the store writer process ended (exit code {code})")
        while self._waiting:
            reply = self._waiting.popleft()
            if not reply.done():
                reply.set_exception(self._died)


def _send_all(sock: socket.socket, outbox: queue.SimpleQueue[bytes | None]) -> None:
    """The sender thread: writes queued messages until the None that ends the stream, then closes this
    side for writing (the worker reads the end of input and exits). A worker gone ends it early."""
    try:
        while (payload := outbox.get()) is not None:
            sock.sendall(_HEADER.pack(len(payload)) + payload)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the worker died: the reply reader sees the stream end and fails the boards waiting


def _read_all(
    sock: socket.socket, loop: asyncio.AbstractEventLoop, replies: asyncio.Queue[tuple[bool, Any] | None]
) -> None:
    """The reply thread: hands each reply to the event loop, then None when the worker's stream ends."""
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
        try:
            with sock.makefile("rb") as stream:
                while (payload := _receive(stream)) is not None:
                    loop.call_soon_threadsafe(replies.put_nowait, pickle.loads(payload))
        except OSError:
            pass
        finally:
            loop.call_soon_threadsafe(replies.put_nowait, None)


# --- the worker ---------------------------------------------------------------------------------------------


def main() -> None:
    """The worker: `python -c "from infrasignal.writer import main; main()" SOCKET_FD PARENT_PID`."""
    fd, parent = int(sys.argv[1]), int(sys.argv[2])
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scrape's to handle (it stops us)
    # The scrape's write functions live in infrasignal.scrape (with the store and the classifier behind
    # it): imported before the setup arrives, so that a worker started early (`spawn`) has done it by then.
    import infrasignal.scrape  # noqa: F401

    with socket.socket(fileno=fd) as sock, sock.makefile("rb") as incoming, sock.makefile("wb") as stream:
        setup = _receive(incoming)
        if setup is None:
            return
        url, config, write, make_classify = pickle.loads(setup)
        from sqlalchemy import event

        from infrasignal.store import open_engine

        engine = open_engine(url)
        checkpointer = None
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            event.listen(engine, "connect", _bulk_checkpoints)
            checkpointer = _Checkpointer(str(engine.url.database))
        classify = make_classify(config)
        # The classifier's tables are large, partly loaded on first use, and live as long as the worker (as
        # do SQLAlchemy's caches): whatever outlives a board is frozen out of the garbage collector's full
        # passes, which would otherwise walk it again and again, and the young generation is collected
        # less often (see scrape.quiet_gc).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        threading.Thread(target=_receive_all, args=(incoming, inbox), name="messages", daemon=True).start()
        while (group := _next_group(inbox)) is not None:
            boards = [pickle.loads(message) for message in group]
            # One transaction (one commit, each index page written once) for the boards that arrived while
            # the last group was written; a round's boards all share its time.
            for at, run in itertools.groupby(boards, key=lambda m: m[2]):
                items = [(board_id, result, fetched_round) for board_id, result, _, fetched_round in run]
                try:
                    replies: list[tuple[bool, Any]] = [
                        (True, summary) for summary in write(engine, items, config, at, classify)
                    ]
                except Exception as exc:
                    replies = [(False, exc)] * len(items)
                for reply in replies:
                    _answer(stream, reply)
            gc.freeze()
        if checkpointer is not None:
            checkpointer.stop()
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:  # as the scrape does: fresh planner statistics (cheap if current)
                conn.exec_driver_sql("PRAGMA optimize")
        engine.dispose()


def _bulk_checkpoints(dbapi_conn: Any, _record: Any) -> None:
    """The worker's own checkpoints (see _Checkpointer): every 64 MB of WAL rather than SQLite's 4 MB."""
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=16000")


class _Checkpointer:
    """Copies the WAL into the database from a thread of its own, every CHECKPOINT_INTERVAL seconds.

    A first scrape commits ~0.7 MB of WAL per board, and a checkpoint (copy the WAL into the database, then
    fsync both files) on the committing connection kept the worker waiting on the disk for a tenth of the
    round. Here the copying and the fsyncs overlap the worker's work (SQLite releases the GIL); the worker's
    own checkpoints, every 64 MB, find little left to do and restart the WAL, so it stays that small.
    PASSIVE checkpoints never block the worker's writes or anyone's reads."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")  # the fsyncs that make a checkpoint safe
            while not self._stop.wait(CHECKPOINT_INTERVAL):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # the worker's own checkpoints still run
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _receive_all(stream: io.BufferedIOBase, inbox: queue.SimpleQueue[bytes | None]) -> None:
    """The worker's reading thread: queues each message as it arrives (so the scrape's sends never wait on
    the board being written), then None at the end of input."""
    try:
        while (message := _receive(stream)) is not None:
            inbox.put(message)
    except OSError:
        pass
    finally:
        inbox.put(None)


def _next_group(inbox: queue.SimpleQueue[bytes | None]) -> list[bytes] | None:
    """The next message (waiting for it) and up to MAX_GROUP - 1 more already queued; None at the end."""
    first = inbox.get()
    if first is None:
        return None
    group = [first]
    while len(group) < MAX_GROUP:
        try:
            message = inbox.get_nowait()
        except queue.Empty:
            break
        if message is None:
            inbox.put(None)  # the end, for the next call
            break
        group.append(message)
    return group


def _receive(stream: io.BufferedIOBase) -> bytes | None:
    """The next message, or None when the scrape closed its end."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    payload = stream.read(size)
    return payload if len(payload) == size else None


def _answer(stream: io.BufferedIOBase, reply: tuple[bool, Any]) -> None:
    try:
        payload = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
    except Exception:  # an exception that cannot be pickled: send its text
        payload = pickle.dumps((False, RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _die_with(parent: int) -> None:
    """On Linux, have the kernel kill this process when the scrape process dies (PR_SET_PDEATHSIG);
    elsewhere the closed socket ends it after the board in hand."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


__all__ = ["ProcessWriter", "Spawned", "WriterDied", "main", "spawn", "writer_mode"]
