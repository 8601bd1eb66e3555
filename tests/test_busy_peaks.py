"""Peaks measured while other work holds the CPU are used for the run but never cached; a quiet machine's are.

The busy case is real: processes spinning on every core while ``cnnstat device`` measures. The quiet case runs the
same path with no spinners of ours; a CI box may still be loaded by others, so it asserts what holds either way
(cached exactly when the share reached ``BUSY_SHARE``), and the write itself is pinned by a fed measurement.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
import torch

from cnnstat.devices import select_device
from cnnstat.profile import peaks as peaks_module
from cnnstat.profile.peaks import BUSY_SHARE, ComputePeak, CpuTime, MachinePeaks, busy, cache_path, cpu_share, usable_cores

THREADS = 1


@contextmanager
def every_core_busy(threads: int) -> Iterator[None]:
    """2 × cores − ``threads`` processes spinning: ``threads`` threads of ours then get at most half of the cores."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * usable_cores() - threads)]
    try:
        time.sleep(0.3)  # their interpreters start
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


def measure_device(folder, monkeypatch) -> tuple[dict, str]:
    """``cnnstat device --device cpu --threads 1 -f json`` with ``folder`` as the cache: its JSON and its stderr."""
    from typer.testing import CliRunner

    from cnnstat.cli import app

    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    result = CliRunner().invoke(app, ["device", "--device", "cpu", "--threads", str(THREADS), "--remeasure", "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


@pytest.fixture(scope="module")
def busy_run(tmp_path_factory) -> tuple[dict, str, list]:
    folder = tmp_path_factory.mktemp("busy-cache")
    with pytest.MonkeyPatch.context() as patch, every_core_busy(THREADS):
        document, stderr = measure_device(folder, patch)
    return document, stderr, sorted(folder.rglob("*.json"))


def test_the_share_counts_every_thread_and_no_more_threads_than_cores():
    assert cpu_share(CpuTime(cpu_s=1.9, wall_s=1.0), threads=2, cores=2) == pytest.approx(0.95)
    assert cpu_share(CpuTime(cpu_s=0.5, wall_s=1.0), threads=1, cores=2) == pytest.approx(0.5)
    # eight threads on two cores can hold two cores at most: 1.9 s of CPU in 1 s is 95% of what they could get
    assert cpu_share(CpuTime(cpu_s=1.9, wall_s=1.0), threads=8, cores=2) == pytest.approx(0.95)


def test_a_share_below_the_threshold_is_a_busy_machine_and_a_gpu_never_is():
    assert busy(0.5) and busy(0.84)
    assert not busy(0.85) and not busy(0.99)
    assert not busy(None)  # a GPU's peaks: timed on the device, no CPU share


def fed(share: float | None, device_type: str = "cpu") -> MachinePeaks:
    return MachinePeaks("test cpu", device_type, THREADS, torch.__version__, (ComputePeak("float32", 55.4, "matmul"),),
                        (), (), "2026-12-07 12:00:00", "fed", share)  # fmt: skip


def test_the_line_says_the_share_that_nothing_was_cached_and_what_gives_a_true_peak():
    line = fed(0.52).not_cached_line()
    assert line is not None and "\n" not in line
    assert "52%" in line and "85%" in line and "not cached" in line and "the next run measures again" in line
    kept = replace(fed(0.52), earlier_cache_kept=True).not_cached_line()  # --remeasure on a busy machine
    assert kept is not None and "the peaks cached earlier stay" in kept and "--remeasure on a quiet machine" in kept
    assert fed(0.97).not_cached_line() is None and replace(fed(0.97), cached=True).not_cached_line() is None
    assert fed(None, "cuda").not_cached_line() is None


@pytest.mark.parametrize("share, written", [(0.4, False), (0.84, False), (0.85, True), (0.98, True), (None, True)])
def test_machine_peaks_caches_a_measurement_exactly_when_the_machine_was_not_busy(share, written, tmp_path, monkeypatch):
    """The measurement fed, the decision and the file real: a busy one is returned uncached, and leaves a cached
    file (``--remeasure`` on a busy machine) as it was."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    setup = select_device("cpu")
    path = cache_path(setup, THREADS)
    path.parent.mkdir(parents=True)
    earlier = replace(fed(0.99), measured_at="earlier", cached=True)
    path.write_text(json.dumps(earlier.to_dict()))
    monkeypatch.setattr(peaks_module, "measure_peaks", lambda *_: fed(share))
    got = peaks_module.machine_peaks(setup, THREADS, remeasure=True)
    assert got.cpu_share == share and got.cached is written and got.earlier_cache_kept is not written
    assert MachinePeaks.from_dict(json.loads(path.read_text())) == (got if written else earlier)
    if written:
        assert peaks_module.machine_peaks(setup, THREADS) == got  # read back as it was measured, cached


@pytest.mark.parametrize("content", ["{half a json", json.dumps({"device": "an older cache, without a share"})])
def test_a_busy_measurement_over_an_unreadable_cache_says_the_next_run_measures_again(content, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    setup = select_device("cpu")
    path = cache_path(setup, THREADS)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    monkeypatch.setattr(peaks_module, "measure_peaks", lambda *_: fed(0.4))
    got = peaks_module.machine_peaks(setup, THREADS, remeasure=True)
    assert got.earlier_cache_kept is False and "the next run measures again" in got.not_cached_line()


def test_peaks_measured_while_every_core_spins_are_used_but_not_cached(busy_run):
    document, stderr, files = busy_run
    assert files == []  # nothing cached
    assert document["cached"] is False and document["cpu_share"] < BUSY_SHARE
    assert document["compute"][0]["dtype"] == "float32" and document["compute"][0]["gflops"] > 0  # used for the run
    lines = [line for line in stderr.splitlines() if "not cached" in line]
    assert len(lines) == 1 and f"{100 * document['cpu_share']:.0f}%" in lines[0] and "measures again" in lines[0]


def test_the_same_path_without_our_load_caches_what_it_measured(tmp_path, monkeypatch):
    document, stderr = measure_device(tmp_path, monkeypatch)
    share = document["cpu_share"]
    assert 0 < share <= 1.1  # one thread holds one core at most (a little over: the clocks are read apart)
    files = list((tmp_path / "cnnstat").glob("peaks-*.json"))
    if share >= BUSY_SHARE:  # a quiet machine; a CI box loaded by others may not be one
        assert document["cached"] is True and len(files) == 1 and json.loads(files[0].read_text()) == document
        assert "not cached" not in stderr
    else:
        assert document["cached"] is False and files == [] and "not cached" in stderr
