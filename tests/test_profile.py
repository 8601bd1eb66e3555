"""cnnstat profile: the laws that tie measured time to the roofline, on small models, CPU (and CUDA where present).

No test here asserts a speed. They assert what must hold on any machine: no layer beats its floor
(peaks a layer beats were not peaks), a noisy figure is flagged, the command's outputs carry every
column. The resnet50 sum-of-layers figure is printed by ``bench/profile_layers.py``.
"""

from __future__ import annotations

import json

import pytest
import torch

from cnnstat.benchmark.noise import WIDE_SPREAD, spread_of
from cnnstat.profile.peaks import BUSY_SHARE, BandwidthPoint, MachinePeaks
from cnnstat.profile.run import profile_model

#: A layer may run at most this much faster than its floor before the law fails: the peaks are the best of five
#: blocks and a layer's time is a median, so only timer noise can put a layer under its floor, and not by half.
TOLERANCE = 1.5
THREADS = 1  # peaks and layers at the same thread count, one core of a shared machine


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One peaks measurement for the module: a fresh cache folder, filled by the first profile.

    Cached whatever share of the CPU it got: a loaded CI box would otherwise refuse the cache (tests/test_busy_peaks.py
    tests that refusal) and every test here would measure the peaks again.
    """
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        patch.setattr("cnnstat.profile.peaks.BUSY_SHARE", 0.0)
        yield folder


@pytest.fixture(scope="module")
def lenet(cache):
    return profile_model("lenet5", batch=8, device="cpu", repeats=7, threads=THREADS)


def test_no_layer_runs_faster_than_its_roofline_floor(lenet):
    assert lenet.rows
    for row in lenet.rows:
        assert row.time_s * TOLERANCE >= row.floor_s, (row.name, row.time_s, row.floor_s, row.bound)
        assert row.of_roof <= TOLERANCE


def test_the_layers_are_the_reports_rows_with_their_bytes_and_flops(lenet):
    import cnnstat

    report = cnnstat.analyze("lenet5", batch=8, convention="flops")
    counted = {layer.name: (layer.flops, layer.bytes) for layer in report.layers}
    assert {row.name: (row.flops, row.bytes) for row in lenet.rows} == counted


def test_the_bound_is_the_roof_that_sets_the_floor(lenet):
    peaks = lenet.peaks
    for row in lenet.rows:
        if row.bound == "compute":  # the floor is the FLOPs at the float32 peak the cache holds
            assert row.floor_s == pytest.approx(row.flops / (peaks.compute[0].gflops * 1e9))
        elif row.bound == "memory":
            assert row.floor_s >= row.flops / (peaks.compute[0].gflops * 1e9)


def test_timings_of_two_runs_that_disagree_are_flagged_when_pooled():
    """Fed timings: runs that disagree by over twice the trusted spread, pooled as the whole-model time pools its two
    blocks, are flagged; runs that agree are not. Whether real runs agree is printed by bench/profile_layers.py."""
    first, second = [1.0e-3] * 10, [1.0e-3 * (1 + 2 * WIDE_SPREAD) * 1.1] * 10
    assert any("spread" in doubt for doubt in spread_of(first + second).doubts())
    assert spread_of(first + [1.01e-3] * 10).doubts() == []


def test_the_whole_model_line_reads_the_load_against_the_cores(lenet):
    from dataclasses import replace

    from cnnstat.cli.profile import summary_lines

    quiet = replace(lenet, whole=spread_of([1e-3] * 20), load=0.5, cores=2)
    busy = replace(quiet, load=7.0)
    assert not any("whole-model" in line for line in summary_lines(quiet))
    assert any("whole-model" in line and "busy machine" in line for line in summary_lines(busy))


def test_profile_says_when_its_peaks_were_measured_busy_and_not_cached(lenet, monkeypatch):
    from dataclasses import replace

    from cnnstat.cli.profile import summary_lines

    monkeypatch.setattr("cnnstat.profile.peaks.BUSY_SHARE", BUSY_SHARE)  # the real threshold, not the cache fixture's
    assert lenet.peaks.cached and not any("not cached" in line for line in summary_lines(lenet))
    uncached = replace(lenet, peaks=replace(lenet.peaks, cpu_share=0.41, cached=False))
    assert [line for line in summary_lines(uncached) if "not cached" in line and "41%" in line]


def test_peaks_are_cached_per_machine_and_remeasured_on_request(cache, lenet):
    files = list((cache / "cnnstat").glob("peaks-*.json"))
    assert len(files) == 1
    stored = json.loads(files[0].read_text())
    assert stored["threads"] == THREADS and stored["torch_version"] == torch.__version__
    assert [point["working_set"] for point in stored["bandwidth"]] == sorted(p["working_set"] for p in stored["bandwidth"])
    assert stored["measured_at"] == lenet.peaks.measured_at
    assert stored["cached"] is True and 0 < stored["cpu_share"] == lenet.peaks.cpu_share  # the share it really got


def test_the_bandwidth_curve_holds_its_points_and_lies_between_them():
    points = (
        BandwidthPoint(1 << 14, 100.0, "copy"),
        BandwidthPoint(1 << 20, 50.0, "copy"),
        BandwidthPoint(1 << 26, 10.0, "triad"),
    )
    peaks = MachinePeaks("cpu", "cpu", 1, torch.__version__, (), points, (), "", "", 1.0)
    assert [peaks.bandwidth_at(p.working_set) for p in points] == [100.0, 50.0, 10.0]
    assert peaks.bandwidth_at(1 << 10) == 100.0 and peaks.bandwidth_at(1 << 30) == 10.0  # flat beyond the ends
    assert 50.0 < peaks.bandwidth_at(1 << 17) < 100.0 and 10.0 < peaks.bandwidth_at(1 << 23) < 50.0


def test_a_single_sample_a_wide_spread_and_a_busy_machine_are_flagged():
    assert "a single sample" in spread_of([0.076]).doubts()
    assert spread_of([0.5e-3] * 20).doubts() == []
    wide = spread_of([0.84e-3] * 4 + [76e-3] * 12 + [88.24e-3] * 4)  # the bench a user met: p10–p90 0.84–88.24 ms
    assert (wide.p10, wide.median, wide.p90) == pytest.approx((0.84e-3, 76e-3, 88.24e-3))
    assert any("spread" in doubt for doubt in wide.doubts())
    assert any("busy machine" in doubt for doubt in spread_of([1e-3] * 20).doubts(load=7.0, cores=2))
    assert spread_of([1e-3] * 20).doubts(load=1.0, cores=2) == []


def test_the_command_writes_json_csv_and_a_roofline_chart(cache, lenet, tmp_path):
    from typer.testing import CliRunner

    from cnnstat.cli import app

    runner = CliRunner()
    chart = tmp_path / "roofline.png"
    args = ["profile", "lenet5", "--batch", "8", "--device", "cpu", "--repeats", "3", "--threads", str(THREADS), "--on", "h100"]
    result = runner.invoke(app, [*args, "-f", "json", "--plot", str(chart)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    columns = {"name", "flops", "bytes", "intensity", "time_s", "floor_s", "bound", "achieved_gflops", "achieved_gbs",
               "of_roof", "spread", "doubts", "on_floor_s"}  # fmt: skip
    assert document["layers"] and all(columns <= set(layer) for layer in document["layers"])
    assert document["whole_s"] > 0 and document["peaks"]["compute"]
    assert document["peaks"]["cached"] is True and document["peaks"]["cpu_share"] > 0
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = runner.invoke(app, [*args, "-f", "csv", "--by", "type"])
    assert csv.exit_code == 0 and csv.stdout.splitlines()[0].startswith("name,type,module,flops,bytes")


def test_on_a_published_device_the_floor_is_a_bound_from_its_datasheet(lenet, cache):
    from cnnstat.profile.published import published_device

    h100 = published_device("H100")
    on = profile_model("lenet5", batch=8, device="cpu", repeats=1, threads=THREADS, on="h100")
    for row in on.rows:  # 67 TFLOPS float32, 3.35 TB/s: as the datasheet prints them
        assert row.on_floor_s == pytest.approx(max(row.flops / 67e12, row.bytes / 3.35e12))
    assert "datasheet" in h100.source


def test_an_unknown_device_is_one_line_and_exit_1(cache):
    from typer.testing import CliRunner

    from cnnstat.cli import app

    result = CliRunner().invoke(app, ["profile", "lenet5", "--on", "tpu9", "--device", "cpu"])
    assert result.exit_code == 1 and "no published peaks" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_on_cuda_no_layer_runs_faster_than_its_floor(cache):
    report = profile_model("resnet18", batch=8, device="cuda", repeats=5)
    for row in report.rows:
        assert row.time_s * TOLERANCE >= row.floor_s, row.name


def test_compare_profile_adds_latency_and_throughput_per_model():
    from typer.testing import CliRunner

    from cnnstat.cli import app

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)  # the runs' own thread count, as the command takes it from torch
    try:
        result = CliRunner().invoke(app, ["compare", "lenet5", "fashion-fast", "--profile", "-f", "json"])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    for row in rows:
        assert row["latency_p10_ms"] <= row["latency_ms"] <= row["latency_p90_ms"]


def test_images_per_second_counts_every_image_of_the_batch():
    from cnnstat.profile.run import measure_latency

    four = measure_latency("lenet5", (4, 1, 32, 32), device="cpu", repeats=3)
    # a forward of four images in latency_ms: four images per forward, not one
    assert four["images_per_s"] * four["latency_ms"] / 1000 == pytest.approx(4)


def test_with_train_each_module_layer_has_a_backward_and_none_beats_its_floor(cache):
    report = profile_model("fashion-fast", batch=8, device="cpu", repeats=3, threads=THREADS, train=True)
    timed = [row for row in report.rows if row.backward_s is not None]
    assert [row.name for row in timed] == [row.name for row in report.rows]  # modules and functional calls alike
    for row in timed:
        assert 0 < row.backward_s < row.time_s  # a layer's time is its forward plus its backward
        assert row.time_s * TOLERANCE >= row.floor_s, row.name


def test_device_refuses_a_format_it_cannot_write():
    from typer.testing import CliRunner

    from cnnstat.cli import app

    for unsupported in ("csv", "markdown"):
        result = CliRunner().invoke(app, ["device", "--device", "cpu", "--format", unsupported])
        assert result.exit_code == 1 and "table or json" in result.output and "{" not in result.output
