"""The composition root's checks of its surroundings: the service's memory limit (cgroup v2)
against what its workers may use."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from inbox_watcher import runtime
from inbox_watcher.config import load_config
from inbox_watcher.runtime import cgroup_memory_limit, make_pool

REPO = Path(__file__).resolve().parents[1]
GIB = 1024**3


def cgroup_tree(tmp_path: Path, own: str, parent: str, *, proc: str) -> tuple[Path, Path]:
    root = tmp_path / "sys-fs-cgroup"
    service = root / "system.slice" / "po-watcher.service"
    service.mkdir(parents=True)
    (service / "memory.max").write_text(own + "\n", encoding="ascii")
    (root / "system.slice" / "memory.max").write_text(parent + "\n", encoding="ascii")
    proc_file = tmp_path / "cgroup"
    proc_file.write_text(proc, encoding="ascii")
    return proc_file, root


def test_the_service_limit_is_read_from_its_cgroup(tmp_path: Path) -> None:
    proc, root = cgroup_tree(
        tmp_path, str(2 * GIB), "max", proc="0::/system.slice/po-watcher.service\n"
    )
    assert cgroup_memory_limit(proc, root) == 2 * GIB


def test_a_lower_limit_on_a_parent_slice_counts(tmp_path: Path) -> None:
    proc, root = cgroup_tree(
        tmp_path, "max", str(GIB), proc="0::/system.slice/po-watcher.service\n"
    )
    assert cgroup_memory_limit(proc, root) == GIB


@pytest.mark.parametrize(
    "proc",
    [
        "4:memory:/system.slice/po-watcher.service\n",  # cgroup v1 only
        "0::/system.slice/other.service\n",  # no such folder: nothing to read
    ],
)
def test_no_limit_when_it_cannot_be_read(tmp_path: Path, proc: str) -> None:
    proc_file, root = cgroup_tree(tmp_path, str(GIB), str(GIB), proc=proc)
    expected = None if proc.startswith("4:") else GIB  # the slice's limit is still read
    assert cgroup_memory_limit(proc_file, root) == expected
    assert cgroup_memory_limit(tmp_path / "absent", root) is None


def test_a_limit_below_the_workers_own_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(REPO / "config" / "watcher.toml")
    config = dataclasses.replace(config, limits=config.limits.model_copy(update={"workers": 4}))
    monkeypatch.setattr(runtime, "cgroup_memory_limit", lambda: 2 * GIB)  # 4 x 512 MB > 2 GiB
    with caplog.at_level(logging.WARNING, logger="inbox_watcher.runtime"), make_pool(config):
        pass
    [record] = [r for r in caplog.records if r.name == "inbox_watcher.runtime"]
    assert "memory limit (2048 MiB" in record.getMessage()
    assert "its 4 workers may use (512 MiB each" in record.getMessage()

    caplog.clear()
    monkeypatch.setattr(runtime, "cgroup_memory_limit", lambda: 8 * GIB)
    with caplog.at_level(logging.WARNING, logger="inbox_watcher.runtime"), make_pool(config):
        pass
    assert not [r for r in caplog.records if r.name == "inbox_watcher.runtime"]
