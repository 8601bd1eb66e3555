"""cnnstat bench: figures tied to the counted FLOPs, JSON with the environment, baselines, GPU paths."""

from __future__ import annotations

import json
import os

import pytest
import torch

import cnnstat
from cnnstat.benchmark import timing as bench_module
from cnnstat.benchmark.baseline import compare_baseline, read_baseline
from cnnstat.benchmark.timing import BenchOptions, run_bench
from cnnstat.errors import CnnstatError

QUICK = BenchOptions(device="cpu", batch_sizes=(1, 4), min_time=0.05)


@pytest.fixture(scope="module")
def peak_cache(tmp_path_factory):
    """One cache folder for the module: the machine's peaks are measured once, by the first bench."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def peak_cache_in_tmp(peak_cache, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(peak_cache))
    # cached whatever share of the CPU the measurement got: a loaded CI box would refuse the cache (test_busy_peaks.py
    # tests that), and the share-of-peak test reads the cached file
    monkeypatch.setattr("cnnstat.profile.peaks.BUSY_SHARE", 0.0)


def test_figures_follow_from_the_timing_and_the_counts():
    report = run_bench(["lenet5"], QUICK)
    assert [r.batch_size for r in report.results] == [1, 4]
    for result in report.results:
        macs = cnnstat.analyze("lenet5", batch=result.batch_size, convention="macs").totals["macs"]
        assert result.flops_per_batch == 2 * macs
        assert result.images_per_s == pytest.approx(result.batch_size / result.median_s)
        assert result.gflops_per_s == pytest.approx(result.flops_per_batch / result.median_s / 1e9)
        assert result.p10_s <= result.median_s <= result.p90_s
        assert 0 < result.share_of_peak == pytest.approx(result.gflops_per_s / result.peak_gflops)
    assert report.environment["threads"] == os.cpu_count()  # every core unless told otherwise


def test_training_mode_counts_the_backward_pass_torch_runs():
    from torch.utils.flop_counter import FlopCounterMode

    from cnnstat.zoo import resolve_model

    train = run_bench(["fashion-fast"], BenchOptions(device="cpu", mode="train", batch_sizes=(8,), min_time=0.05))
    model = resolve_model("fashion-fast", on_meta=False).module.train()
    counter = FlopCounterMode(display=False)
    with counter:  # a real forward and backward pass: what the timed training step runs
        model(torch.randn(8, 1, 28, 28)).sum().backward()
    assert train.results[0].flops_per_batch == counter.get_total_flops()


def test_share_of_peak_uses_the_peaks_profile_measured_and_cached(peak_cache):
    report = run_bench(["lenet5"], BenchOptions(device="cpu", batch_sizes=(1,), min_time=0.05))
    files = list((peak_cache / "cnnstat").glob("peaks-*.json"))
    assert len(files) == 1 and not (peak_cache / "cnnstat" / "peak.json").exists()  # one probe, one cache
    stored = json.loads(files[0].read_text())
    float32 = next(c["gflops"] for c in stored["compute"] if c["dtype"] == "float32")
    assert report.results[0].peak_gflops == float32 > 0


def test_peaks_of_a_busy_machine_are_not_cached_and_the_report_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("cnnstat.profile.peaks.busy", lambda share: True)  # whatever share the measurement got
    report = run_bench(["lenet5", "fashion-cnn"], BenchOptions(device="cpu", batch_sizes=(1,), min_time=0.05))
    assert not list(tmp_path.rglob("peaks-*.json"))
    [note] = [note for note in report.notes if note.startswith("peaks measured on a busy machine")]  # once, not per model
    assert "not cached" in note


def test_a_mistyped_model_is_refused_before_anything_is_measured(tmp_path, monkeypatch):
    from cnnstat.profile import peaks

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    measured: list[int] = []
    monkeypatch.setattr(peaks, "measure_peaks", lambda *args, **kwargs: measured.append(1))
    timed: list[str] = []
    monkeypatch.setattr(bench_module, "time_model", lambda name, *args: timed.append(name))
    with pytest.raises(CnnstatError, match="lenet5x"):
        run_bench(["lenet5", "lenet5x"], BenchOptions(device="cpu", batch_sizes=(1,), min_time=0.05))
    assert measured == [] and timed == []  # nothing timed before the name that fails


def test_json_carries_the_environment(cli):
    result = cli("bench", "lenet5", "--device", "cpu", "--batch-size", "2", "--min-time", "0.05", "--threads", "1", "-f", "json")
    document = json.loads(result.stdout)
    assert {"torch", "device", "threads", "dtype"} <= set(document["environment"])
    assert document["environment"]["threads"] == 1
    assert document["results"][0]["batch_size"] == 2


def test_baseline_marks_changes_beyond_the_spread(tmp_path):
    import dataclasses

    report = run_bench(["lenet5"], BenchOptions(device="cpu", batch_sizes=(4,), min_time=0.05))
    # the timings' own scatter, which on a busy machine can exceed any factor, pinned to 10% around the median
    median = report.results[0].median_s
    report.results[0] = dataclasses.replace(report.results[0], p10_s=0.95 * median, p90_s=1.05 * median)
    document = json.loads(report.to_json())
    for factor, verdict in ((0.1, "faster"), (0.8, "faster"), (0.95, "unchanged"), (1.05, "unchanged"), (1.25, "slower"), (10.0, "slower")):
        document["results"][0]["images_per_s"] = report.results[0].images_per_s * factor
        path = tmp_path / f"baseline-{factor}.json"
        path.write_text(json.dumps(document))
        assert compare_baseline(report, read_baseline(path))[0].verdict == verdict
    path = tmp_path / "same.json"
    path.write_text(report.to_json())
    assert compare_baseline(report, read_baseline(path))[0].verdict == "unchanged"


def test_amp_that_does_not_apply_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(bench_module, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr("cnnstat.devices.cpu_has_native_bf16", lambda: False)
    report = run_bench(["lenet5"], BenchOptions(device="cpu", batch_sizes=(1,), min_time=0.05, amp=True))
    assert report.notes == ["--amp: not applied (this CPU has no native bf16); timing float32"]
    assert report.environment["dtype"] == "float32"


def test_compile_is_applied_and_runs():
    report = run_bench(["fashion-fast"], BenchOptions(device="cpu", batch_sizes=(2,), min_time=0.05, compile=True))
    assert report.results[0].images_per_s > 0
    assert report.environment["compile"] is True and report.notes == []


def test_compile_that_fails_falls_back_with_a_note(monkeypatch):
    def broken(model):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    report = run_bench(["lenet5"], BenchOptions(device="cpu", batch_sizes=(1,), min_time=0.05, compile=True))
    assert report.environment["compile"] is False
    assert report.notes == ["--compile: not applied (RuntimeError: no compiler here)"]


def test_usage_errors(cli):
    assert "expected numbers separated by commas" in cli("bench", "lenet5", "--batch-size", "a,b").output
    assert cli("bench", "lenet5", "--mode", "fly", "--device", "cpu").exit_code == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_with_amp_and_channels_last():
    report = run_bench(["resnet18"], BenchOptions(device="cuda", batch_sizes=(8,), amp=True, channels_last=True, min_time=0.2))
    assert report.environment["device_type"] == "cuda" and report.environment["amp"]
    assert report.results[0].peak_memory_bytes > 0
