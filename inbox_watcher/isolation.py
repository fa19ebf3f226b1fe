"""Run a function on hostile input in worker processes, with a wall-time and a memory limit.

``IsolatedPool`` keeps a few forked workers alive and reuses them task after task (forking per task
is too slow for thousands of messages a second). Each task gets a deadline: a worker past it is
killed with SIGKILL and replaced while the other tasks go on. Each worker runs under an address
space limit (``RLIMIT_AS``): a ``MemoryError`` in the function becomes ``MEMORY_LIMIT``, and so does
a native library that aborts because an allocation failed. A worker that dies any other way
(segfault, abort, OOM killer) becomes ``WORKER_CRASHED`` with the signal's name; an exception raised
by the function is ``WORKER_CRASHED`` too, with its type and message in ``error``.

A worker holds up to two tasks: the one it runs and, when the task is small (``_QUEUE_BYTES``), the
next one, already in its pipe, so it never waits for the parent between tasks (a parent busy
elsewhere made each worker idle for ~40 % of a poll). The next task's deadline starts when the
first one's result arrives; a worker killed or dead with a task queued behind the failed one
gets that task run again elsewhere, never reported for a failure that was not its own.

Workers die with the daemon: each asks the kernel for SIGKILL when its parent dies
(``PR_SET_PDEATHSIG``) and also checks its parent id while idle. ``close()`` (or leaving the
``with`` block) ends and reaps every worker; nothing is left behind, no process, no descriptor.

Linux only (fork, prctl, /proc). The pool is not thread-safe: use it from one thread at a time. A
worker is forked from the thread that starts it, and PR_SET_PDEATHSIG fires when *that thread*
ends, so start and use a pool from a long-lived thread (the main thread, or one worker thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import os
import pickle
import resource
import signal
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe, wait
from multiprocessing.reduction import ForkingPickler
from typing import Any, Generic, TypeVar

from extractors.types import Unreadable

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_MEMORY_LIMIT = 1 << 30  # bytes of address space a worker may add to what it starts with
_PR_SET_PDEATHSIG = 1
_IDLE_POLL = 1.0  # seconds between an idle worker's checks that its parent is alive
_CLOSE_GRACE = 2.0  # seconds close() waits for idle workers to exit before killing them
# Native readers (pdfium) abort when an allocation fails; a death by one of these signals after
# the worker's memory had grown to this share of the limit is taken as running out of memory.
_OOM_SIGNALS = frozenset({signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGTRAP})
_OOM_SHARE = 0.25
# A task this small (pickled) may wait in a busy worker's pipe: it fits in the socket buffer
# (~200 KB on Linux), so handing it over never blocks the parent.
_QUEUE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Done(Generic[R]):
    value: R


@dataclass(frozen=True, slots=True)
class Failed:
    """A task that gave no value. ``kind`` is TIME_LIMIT, MEMORY_LIMIT or WORKER_CRASHED."""

    kind: Unreadable
    detail: str
    error: str | None = None  # "ValueError: bad value" when the function raised
    traceback: str | None = None  # the worker's traceback, for the log (not for people)


Outcome = Done[R] | Failed


@dataclass(eq=False, slots=True)
class _Worker:
    pid: int
    conn: Connection
    baseline_rss: int  # bytes resident at fork (shared with the parent), for the OOM guess
    # (index, pickled task): the running one first (its bytes dropped), then the queued one
    tasks: deque[tuple[int, bytes]] = field(default_factory=deque)
    deadline: float = 0.0  # of the running task
    started: float = field(default_factory=time.monotonic)

    @property
    def task(self) -> int | None:
        """The index of the task the worker is running, None when idle."""
        return self.tasks[0][0] if self.tasks else None


class IsolatedPool:
    """A pool of forked worker processes running one picklable function per item.

    >>> with IsolatedPool(processes=2) as pool:
    ...     results = pool.map(len, [b"ab", b"c"], time_limit=5.0)
    >>> [r.value for r in results if isinstance(r, Done)]
    [2, 1]
    """

    def __init__(
        self, processes: int | None = None, *, memory_limit: int | None = DEFAULT_MEMORY_LIMIT
    ) -> None:
        count = processes if processes is not None else (os.cpu_count() or 1)
        if count < 1:
            raise ValueError(f"processes must be at least 1, not {count}")
        if memory_limit is not None and memory_limit <= 0:
            raise ValueError(f"memory_limit must be positive bytes or None, not {memory_limit}")
        self.processes = count
        self.memory_limit = memory_limit
        self._workers: list[_Worker] = []
        self._closed = False
        self._running = False
        self._owner = os.getpid()
        self._pids: set[int] = set()
        # Kills stray workers if the pool is dropped without close() (never relied on in code).
        self._finalizer = weakref.finalize(self, _kill_all, self._pids, self._owner)

    # -- public API ----------------------------------------------------------------------------

    def __enter__(self) -> IsolatedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def worker_pids(self) -> tuple[int, ...]:
        return tuple(w.pid for w in self._workers)

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, time_limit: float
    ) -> list[Done[R] | Failed]:
        """Results in the order of ``items``."""
        results: dict[int, Done[R] | Failed] = dict(self.run(fn, items, time_limit=time_limit))
        return [results[i] for i in range(len(results))]

    def run(
        self, fn: Callable[[T], R], items: Iterable[T], *, time_limit: float
    ) -> Iterator[tuple[int, Done[R] | Failed]]:
        """(index in ``items``, outcome) pairs as tasks finish. ``items`` is read lazily.

        Leaving the loop early kills the workers still busy with tasks of this run.
        """
        if self._closed:
            raise RuntimeError("the pool is closed")
        if self._running:
            raise RuntimeError("the pool is already running tasks (it is not reentrant)")
        if time_limit <= 0:
            raise ValueError(f"time_limit must be positive seconds, not {time_limit}")
        self._running = True
        try:
            yield from self._run(fn, iter(enumerate(items)), time_limit)
        finally:
            for w in list(self._workers):
                if w.task is not None:
                    self._discard(w, kill=True)
            self._running = False

    def close(self) -> None:
        """End every worker and reap it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if os.getpid() != self._owner:  # a forked child never ends its parent's workers
            return
        for w in self._workers:
            w.conn.close()  # an idle worker reads EOF and exits
        deadline = time.monotonic() + _CLOSE_GRACE
        for w in self._workers:
            if w.task is not None:
                os.kill(w.pid, signal.SIGKILL)
            while _reap(w.pid, block=False) is None:
                if time.monotonic() >= deadline:
                    _kill(w.pid)
                    _reap(w.pid, block=True)
                    break
                time.sleep(0.005)
            self._pids.discard(w.pid)
        self._workers.clear()
        self._finalizer.detach()

    # -- scheduling ----------------------------------------------------------------------------

    def _run(
        self, fn: Callable[[T], R], todo: Iterator[tuple[int, T]], time_limit: float
    ) -> Iterator[tuple[int, Done[R] | Failed]]:
        again: deque[tuple[int, bytes]] = deque()  # queued behind a task that failed: run again
        held: tuple[int, bytes] | None = None  # too large to queue: waits for an idle worker
        exhausted = False
        while True:
            while True:
                if held is None and again:
                    held = again.popleft()
                if held is None and not exhausted:
                    nxt = next(todo, None)
                    if nxt is None:
                        exhausted = True
                    else:
                        packed = _pack(fn, nxt[1])
                        if isinstance(packed, Failed):
                            yield nxt[0], packed
                            continue
                        held = (nxt[0], packed)
                if held is None:
                    break
                worker = self._free_worker(queue=len(held[1]) <= _QUEUE_BYTES)
                if worker is None:
                    break
                sent = self._dispatch(worker, held, time_limit)
                if sent is False:
                    break  # the worker died; collecting it below frees the way
                if isinstance(sent, Failed):
                    yield held[0], sent
                held = None
            busy = [w for w in self._workers if w.tasks]
            if not busy:
                if exhausted and held is None and not again:
                    return
                continue
            now = time.monotonic()
            timeout = max(0.0, min(w.deadline for w in busy) - now)
            ready = wait([w.conn for w in busy], timeout=timeout)
            for w in busy:
                if w.conn in ready:
                    yield from self._collect(w, again, time_limit)
            now = time.monotonic()
            for w in busy:
                if w.tasks and now >= w.deadline:
                    index = w.tasks[0][0]
                    again.extend(list(w.tasks)[1:])
                    self._discard(w, kill=True)
                    yield (
                        index,
                        Failed(
                            Unreadable.TIME_LIMIT, f"stopped after {time_limit:g} s (wall time)"
                        ),
                    )

    def _free_worker(self, *, queue: bool) -> _Worker | None:
        """An idle worker (started if the pool is not full), else, if ``queue``, one running a
        task with none queued behind it."""
        for w in self._workers:
            if not w.tasks:
                return w
        if len(self._workers) < self.processes:
            return self._start_worker()
        if queue:
            for w in self._workers:
                if len(w.tasks) == 1:
                    return w
        return None

    def _dispatch(self, w: _Worker, task: tuple[int, bytes], time_limit: float) -> Failed | bool:
        """Hand a task over: True when sent, False when the worker turned out dead while running
        a task (its pipe says so next; the task waits), Failed when it cannot be sent at all."""
        try:
            w.conn.send_bytes(task[1])
        except (BrokenPipeError, ConnectionResetError, EOFError) as exc:
            if w.tasks:
                return False
            # The idle worker had died (killed from outside); replace it and try once more.
            self._discard(w, kill=True)
            w = self._start_worker()
            try:
                w.conn.send_bytes(task[1])
            except (BrokenPipeError, ConnectionResetError, EOFError):
                self._discard(w, kill=True)
                return Failed(Unreadable.WORKER_CRASHED, f"could not hand the task over: {exc}")
        if not w.tasks:
            w.deadline = time.monotonic() + time_limit
            task = (task[0], b"")  # running: its bytes are not needed again
        w.tasks.append(task)
        return True

    def _collect(
        self, w: _Worker, again: deque[tuple[int, bytes]], time_limit: float
    ) -> Iterator[tuple[int, Done[R] | Failed]]:
        if not w.tasks:  # never: only busy workers are collected
            return
        index = w.tasks[0][0]
        try:
            message: tuple[str, Any, Any, Any] = w.conn.recv()
        except (EOFError, OSError):
            again.extend(list(w.tasks)[1:])
            yield index, self._death(w)
            return
        tag, payload, error, tb = message
        w.tasks.popleft()
        if tag != "memory" and w.tasks:  # the queued task starts now
            w.deadline = time.monotonic() + time_limit
            w.tasks[0] = (w.tasks[0][0], b"")  # running: its bytes are not needed again
        if tag == "ok":
            yield index, Done(payload)
        elif tag == "memory":
            again.extend(w.tasks)
            w.tasks.clear()
            self._discard(w, kill=True)  # a worker that ran out of memory is not reused
            yield index, Failed(Unreadable.MEMORY_LIMIT, payload, error=error, traceback=tb)
        else:
            yield index, Failed(Unreadable.WORKER_CRASHED, payload, error=error, traceback=tb)

    def _death(self, w: _Worker) -> Failed:
        """Reap a worker whose pipe closed mid-task and say why it died."""
        w.tasks.clear()
        self._workers.remove(w)
        w.conn.close()
        reaped = _reap(w.pid, block=True)
        self._pids.discard(w.pid)
        status, peak = reaped if reaped is not None else (-1, 0)
        if status == -1:
            return Failed(Unreadable.WORKER_CRASHED, "the worker vanished")
        grown = max(0, peak - w.baseline_rss)
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status))
            words = f"worker killed by {sig.name} (peak {grown >> 20} MiB above its start)"
            if (
                self.memory_limit is not None
                and sig in _OOM_SIGNALS
                and grown >= self.memory_limit * _OOM_SHARE
            ):
                # No figure that varies from run to run: a reprocess would call it a change.
                limit = self.memory_limit >> 20
                return Failed(
                    Unreadable.MEMORY_LIMIT, f"stopped at the memory limit of {limit} MiB"
                )
            return Failed(Unreadable.WORKER_CRASHED, words)
        return Failed(
            Unreadable.WORKER_CRASHED, f"worker exited with status {os.WEXITSTATUS(status)}"
        )

    # -- worker lifecycle ----------------------------------------------------------------------

    def _start_worker(self) -> _Worker:
        parent_end, child_end = Pipe(duplex=True)
        others = [w.conn for w in self._workers]
        baseline = _rss()
        parent_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                parent_end.close()
                for conn in others:
                    conn.close()
                code = _worker_main(child_end, parent_pid, self.memory_limit)
            finally:
                os._exit(code)
        child_end.close()
        self._pids.add(pid)
        worker = _Worker(pid=pid, conn=parent_end, baseline_rss=baseline)
        self._workers.append(worker)
        return worker

    def _discard(self, w: _Worker, *, kill: bool) -> None:
        if w in self._workers:
            self._workers.remove(w)
        if kill:
            _kill(w.pid)
        w.conn.close()
        _reap(w.pid, block=True)
        self._pids.discard(w.pid)


# -- the worker side ---------------------------------------------------------------------------


def _worker_main(conn: Connection, parent_pid: int, memory_limit: int | None) -> int:
    _die_with_parent()
    if os.getppid() != parent_pid:
        return 0
    faulthandler.disable()  # a crash is reported as a Failed value, not a dump on stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the daemon's handler is not ours
    if memory_limit is not None:
        limit = _address_space() + memory_limit
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            if not conn.poll(_IDLE_POLL):
                if os.getppid() != parent_pid:
                    return 0
                continue
            task = conn.recv()
        except (EOFError, OSError):
            return 0
        if task is None:
            return 0
        fn, item = task
        reply: tuple[str, Any, str | None, str | None]
        try:
            reply = ("ok", fn(item), None, None)
        except MemoryError as exc:
            reply = ("memory", "the task ran out of memory", _error(exc), None)
        except BaseException as exc:  # the per-task boundary: sent back as a value
            reply = ("error", "the function raised", _error(exc), traceback.format_exc())
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("memory", "the result did not fit in memory", None, None))
        except (TypeError, AttributeError, ValueError) as exc:  # an unpicklable result
            conn.send(("error", "the result could not be sent back", _error(exc), None))
        except (BrokenPipeError, OSError):
            return 0
        if reply[0] == "memory":
            return 0


def _pack(fn: Callable[[T], R], item: T) -> bytes | Failed:
    """The task as the worker's ``conn.recv()`` reads it; a value that cannot be pickled is a
    Failed outcome (nothing is sent)."""
    try:
        return bytes(ForkingPickler.dumps((fn, item)))
    except (TypeError, AttributeError, ValueError, pickle.PicklingError) as exc:
        return Failed(
            Unreadable.WORKER_CRASHED,
            "the task could not be sent to a worker",
            error=f"{type(exc).__name__}: {exc}",
        )


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the idle parent-id check still applies
        pass


def _address_space() -> int:
    """Bytes of virtual memory this process has mapped now (VmSize)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def _rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


# -- process helpers ---------------------------------------------------------------------------


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int, *, block: bool) -> tuple[int, int] | None:
    """(wait status, peak resident bytes) of a finished child, None while it runs.

    A child reaped already (or never ours) gives status -1.
    """
    try:
        got, status, usage = os.wait4(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return -1, 0
    if got == 0:
        return None
    return status, usage.ru_maxrss * 1024


def _kill_all(pids: set[int], owner: int) -> None:
    if os.getpid() != owner:
        return
    for pid in list(pids):
        _kill(pid)
        _reap(pid, block=True)
    pids.clear()
