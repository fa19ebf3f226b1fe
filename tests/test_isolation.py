"""IsolatedPool: real forked workers, real signals, real limits."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from extractors.types import Unreadable
from inbox_watcher.isolation import Done, Failed, IsolatedPool

REPO = Path(__file__).resolve().parent.parent


def _task(item: str) -> str:
    if item == "sleep":
        time.sleep(60)
    elif item == "hog":
        hog = bytearray(8 << 30)  # 8 GiB: more than any limit below allows
        return str(len(hog))
    elif item == "raise":
        raise ValueError("no such thing")
    elif item == "segv":
        ctypes.string_at(0)
    elif item == "abort":
        os.abort()
    elif item == "exit":
        os._exit(3)
    elif item == "pid":
        return str(os.getpid())
    elif item == "nap":
        time.sleep(0.6)
    return item.upper()


def _unpicklable(_item: str) -> object:
    return lambda: None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _wait_dead(pids: list[int], seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        living = [p for p in pids if _alive(p)]
        if not living:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_map_keeps_order_and_values() -> None:
    with IsolatedPool(processes=2) as pool:
        results = pool.map(_task, ["a", "b", "c", "d"], time_limit=10)
    assert results == [Done("A"), Done("B"), Done("C"), Done("D")]


def test_time_limit_kills_only_that_task() -> None:
    with IsolatedPool(processes=2) as pool:
        start = time.monotonic()
        results = pool.map(_task, ["a", "sleep", "b", "c"], time_limit=1.0)
        took = time.monotonic() - start
    assert results[0] == Done("A")
    assert results[2:] == [Done("B"), Done("C")]
    failed = results[1]
    assert isinstance(failed, Failed)
    assert failed.kind is Unreadable.TIME_LIMIT
    assert took < 5.0


def test_tasks_queued_behind_a_killed_one_run_again() -> None:
    """With one worker, the tasks after "sleep" wait in its pipe; it is killed at the deadline,
    and they are run by its replacement, not reported as failed."""
    with IsolatedPool(processes=1) as pool:
        results = pool.map(_task, ["a", "sleep", "b", "c"], time_limit=1.0)
    assert results[0] == Done("A")
    assert isinstance(results[1], Failed)
    assert results[1].kind is Unreadable.TIME_LIMIT
    assert results[2:] == [Done("B"), Done("C")]


def test_a_queued_task_gets_its_time_limit_from_when_it_starts() -> None:
    """Three 0.6 s tasks on one worker with a 1 s limit: each is within its limit, although the
    second and third were handed over before the first had finished."""
    with IsolatedPool(processes=1) as pool:
        results = pool.map(_task, ["nap", "nap", "nap"], time_limit=1.0)
    assert results == [Done("NAP"), Done("NAP"), Done("NAP")]


def test_large_tasks_wait_for_an_idle_worker() -> None:
    """A task too large to wait in a busy worker's pipe is handed over when the worker is idle
    (handing it over earlier could block the parent); everything still comes back, in order."""
    big = "x" * (2 << 20)
    with IsolatedPool(processes=1) as pool:
        results = pool.map(_task, ["nap", big, "nap", big], time_limit=5.0)
    assert results == [Done("NAP"), Done(big.upper()), Done("NAP"), Done(big.upper())]


def test_memory_error_is_memory_limit_and_pool_goes_on() -> None:
    with IsolatedPool(processes=1, memory_limit=256 << 20) as pool:
        results = pool.map(_task, ["hog", "after"], time_limit=20)
    failed = results[0]
    assert isinstance(failed, Failed)
    assert failed.kind is Unreadable.MEMORY_LIMIT
    assert results[1] == Done("AFTER")


def test_exception_is_reported_with_its_type() -> None:
    with IsolatedPool(processes=1) as pool:
        first, second = pool.map(_task, ["raise", "pid"], time_limit=10)
        (third,) = pool.map(_task, ["pid"], time_limit=10)
    assert isinstance(first, Failed)
    assert first.kind is Unreadable.WORKER_CRASHED
    assert first.error == "ValueError: no such thing"
    assert first.traceback is not None
    assert "ValueError" in first.traceback
    # an exception does not cost the worker: the same process serves the next tasks
    assert isinstance(second, Done)
    assert isinstance(third, Done)
    assert second.value == third.value


@pytest.mark.parametrize(("item", "words"), [("segv", "SIGSEGV"), ("abort", "SIGABRT")])
def test_worker_killed_by_signal_is_crash_with_signal_name(item: str, words: str) -> None:
    with IsolatedPool(processes=1) as pool:
        crashed, after = pool.map(_task, [item, "ok"], time_limit=10)
    assert isinstance(crashed, Failed)
    assert crashed.kind is Unreadable.WORKER_CRASHED
    assert words in crashed.detail
    assert after == Done("OK")


def test_worker_exit_and_unpicklable_result() -> None:
    with IsolatedPool(processes=1) as pool:
        (exited,) = pool.map(_task, ["exit"], time_limit=10)
        (unpicklable,) = pool.map(_unpicklable, ["x"], time_limit=10)
        (fine,) = pool.map(_task, ["x"], time_limit=10)
    assert isinstance(exited, Failed)
    assert "status 3" in exited.detail
    assert isinstance(unpicklable, Failed)
    assert unpicklable.error is not None
    assert fine == Done("X")


def test_workers_are_reused() -> None:
    with IsolatedPool(processes=2) as pool:
        start = time.monotonic()
        results = pool.map(_task, ["pid"] * 2000, time_limit=10)
        took = time.monotonic() - start
    pids = {r.value for r in results if isinstance(r, Done)}
    assert len(results) == 2000
    assert 1 <= len(pids) <= 2
    assert took < 10.0, f"2000 tiny tasks took {took:.1f} s"


def test_leaving_run_early_kills_busy_workers() -> None:
    with IsolatedPool(processes=3) as pool:
        started: list[int] = []
        for index, outcome in pool.run(_task, ["sleep", "sleep", "a"], time_limit=30):
            assert (index, outcome) == (2, Done("A"))
            started = list(pool.worker_pids)  # two sleeping, one idle
            break
        left = pool.worker_pids
        assert len(started) == 3
        assert len(left) == 1
        assert _wait_dead([p for p in started if p not in left]) == []
        assert pool.map(_task, ["again"], time_limit=10) == [Done("AGAIN")]


def test_close_leaves_no_process_and_no_descriptor() -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    pids: list[int] = []
    for _ in range(5):
        pool = IsolatedPool(processes=2)
        pool.map(_task, ["a", "sleep", "b"], time_limit=0.3)
        pids.extend(pool.worker_pids)
        pool.close()
        pool.close()  # twice is fine
    assert _wait_dead(pids) == []
    assert len(os.listdir("/proc/self/fd")) == fds_before
    with pytest.raises(RuntimeError, match="closed"):
        pool.map(_task, ["a"], time_limit=1)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(how: signal.Signals) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from inbox_watcher.isolation import IsolatedPool
        from tests.test_isolation import _task
        pool = IsolatedPool(processes=2)
        pool.map(_task, ["warm", "up"], time_limit=10)  # both workers started
        print(" ".join(map(str, pool.worker_pids)), flush=True)
        for _ in pool.run(_task, ["sleep", "sleep"], time_limit=120):
            pass
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        assert all(_alive(p) for p in pids)
        time.sleep(0.3)  # the workers are now busy sleeping
        parent.send_signal(how)
        parent.wait(timeout=10)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    assert _wait_dead(pids) == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="processes"):
        IsolatedPool(processes=0)
    with pytest.raises(ValueError, match="memory_limit"):
        IsolatedPool(memory_limit=0)
    with IsolatedPool(processes=1) as pool, pytest.raises(ValueError, match="time_limit"):
        pool.map(_task, ["a"], time_limit=0)
