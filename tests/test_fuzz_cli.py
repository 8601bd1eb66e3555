"""Every command driven with random and malformed arguments: never a traceback, exit 0, 1 or 2, a short message.

The arguments mix valid pieces (tiny zoo models, good shapes) with broken ones (unknown names,
unicode, shapes of every rank with zero, negative or huge sizes, wrong dtypes, paths that do not
exist, are folders or cannot be read), so that most cases fail early and each command is also
reached with arguments that work.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FAST_MODELS = ["lenet5", "lenet", "lenet-fashion", "fashion-fast"]
NAMES = st.one_of(
    st.sampled_from(FAST_MODELS),
    st.sampled_from(["resnet5", "", ":", "nosuch:attr", "x.py:", "torch.nn:Module", "torch.nn:Linear", "os:path", "ünïcødé", "-", "--", "models"]),
    st.text(min_size=0, max_size=12),
)
SHAPES = st.one_of(
    st.sampled_from(["1x32x32", "28x28", "1x28x28", "3x32x32", "0x0x0", "3x-1x5", "3", "128:int64", "1x32x32:bfloat16",
                     "1x32x32:float16", "1x32x32:int65", "1x32x32:", "x=1x32x32", "1=3", "100000x100000x100000",
                     "1x4096x4096", "2x2", "1x1x1x1x1", "nan", "1e3x3", "３x３２x３２", ""]),
    st.lists(st.integers(-3, 70), min_size=0, max_size=5).map(lambda dims: "x".join(map(str, dims))),
    st.text(max_size=10),
)  # fmt: skip
NUMBERS = st.sampled_from(["1", "2", "0", "-1", "10000000000000", "1.5", "abc", "", "७"])
FORMATS = st.sampled_from(["table", "json", "csv", "markdown", "xml", ""])
CONVENTIONS = st.sampled_from(["lenet", "macs", "flops", "fvcore", "bogus", ""])


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    """Paths of every awkward kind: missing, a folder, unreadable, empty, not what they claim to be."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "folder").mkdir()
    (root / "empty.json").write_text("")
    (root / "broken.json").write_text("{not json")
    (root / "other.json").write_text('{"version": 1}')
    (root / "model.py").write_text("import torch.nn as nn\nnet = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))\nnet.input_size = (4,)\n")
    (root / "raises.py").write_text("raise RuntimeError('broken on import')\n")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    unreadable = root / "unreadable.json"
    unreadable.write_text("{}")
    unreadable.chmod(0)
    return {
        "missing": str(root / "missing" / "file.json"), "folder": str(root / "folder"), "empty": str(root / "empty.json"),
        "broken": str(root / "broken.json"), "other": str(root / "other.json"), "unreadable": str(unreadable),
        "model": f"{root / 'model.py'}:net", "raises": f"{root / 'raises.py'}:net", "image": str(root / "image.png"),
        "outdir": str(root / "out"),
    }  # fmt: skip


def assert_clean(result, args) -> None:
    """No traceback, a known exit code, and a message of at most a few lines that says something."""
    output = result.output
    assert "Traceback" not in output, (args, output[-2000:])
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, output[-2000:], result.exception)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError((args, repr(result.exception)))
    if result.exit_code == 1:
        lines = [line for line in output.strip().splitlines() if line.strip()]
        message = [line for line in lines if line.startswith("error:")]
        assert message and len(lines) <= 4, (args, output)


def _path(paths: dict[str, str]):
    return st.sampled_from(sorted(paths)).map(lambda key: paths[key])


@st.composite
def counting_args(draw, paths: dict[str, str]):
    command = draw(st.sampled_from(["summary", "flops"]))
    args = [command, draw(st.one_of(NAMES, _path(paths)))]
    for _ in range(draw(st.integers(0, 4))):
        option = draw(st.sampled_from(["--input", "--batch", "--format", "--convention", "--optimizer", "--columns",
                                       "--depth", "--by", "--sort", "--top", "--explain", "--out", "--bogus"]))  # fmt: skip
        value = {
            "--input": SHAPES, "--batch": NUMBERS, "--format": FORMATS, "--convention": CONVENTIONS,
            "--optimizer": st.sampled_from(["sgd", "momentum", "adam", "lion"]), "--columns": st.sampled_from(["name,macs", "nope", ""]),
            "--depth": NUMBERS, "--by": st.sampled_from(["type", "layer", "module"]), "--sort": st.sampled_from(["macs", "name", "zzz"]),
            "--top": NUMBERS, "--out": _path(paths),
        }.get(option)  # fmt: skip
        args += [option] if value is None else [option, draw(value)]
    return args


def _runner():
    from typer.testing import CliRunner

    from cnnstat.cli import app

    runner = CliRunner()
    return lambda args: runner.invoke(app, args, env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_summary_and_flops_never_trace_back(paths, data):
    args = data.draw(counting_args(paths))
    assert_clean(_runner()(args), args)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_models_compare_and_check_never_trace_back(paths, data):
    command = data.draw(st.sampled_from(["models", "compare", "check"]))
    args = [command]
    if command == "models":
        args += data.draw(st.lists(st.one_of(st.sampled_from(["lenet*", "*", "zzz*", "[", "--torchvision"]), st.text(max_size=6)), max_size=2))
        args += data.draw(st.sampled_from([[], ["--format", "json"], ["--format", "nope"], ["--out", paths["folder"]]]))
    elif command == "compare":
        args += data.draw(st.lists(st.one_of(st.sampled_from(FAST_MODELS), NAMES), min_size=0, max_size=3))
        args += data.draw(st.sampled_from([[], ["--plot", paths["folder"]], ["--plot", paths["missing"] + ".png"], ["--plot", "x.gif"],
                                           ["--input", "28x28"], ["--batch", "0"], ["-f", "csv"]]))  # fmt: skip
    else:
        args += data.draw(st.lists(st.one_of(st.sampled_from(["lenet5", "lenet-fashion"]), NAMES), min_size=0, max_size=2))
        args += data.draw(st.sampled_from([[], ["--against", "none"], ["--against", "paper,zzz"], ["--snapshot", paths["folder"]],
                                           ["--snapshot", paths["empty"]], ["--format", "csv"], ["--input", "0x0"],
                                           ["--against", "none", "--snapshot", paths["folder"] + "/sub"]]))  # fmt: skip
    assert_clean(_runner()(args), args)


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_train_predict_and_bench_never_trace_back(paths, data):
    command = data.draw(st.sampled_from(["train", "predict", "bench"]))
    if command == "train":  # an empty data folder: every run stops before any training
        args = ["train", data.draw(st.one_of(st.sampled_from(FAST_MODELS), NAMES)), "--data", paths["folder"]]
        args += data.draw(st.lists(st.sampled_from(["--epochs", "--batch-size", "--lr", "--optimizer", "--recipe", "--limit", "--seed",
                                                    "--device", "--resume", "--out"]), max_size=3).flatmap(
            lambda options: st.tuples(*[st.tuples(st.just(o), st.one_of(NUMBERS, _path(paths), st.sampled_from(["cpu", "adam", "fast"])))
                                        for o in options])))  # fmt: skip
        args = [part for item in args for part in (item if isinstance(item, tuple) else (item,))]
    elif command == "predict":
        args = ["predict", data.draw(_path(paths))]
        args += data.draw(st.lists(st.one_of(_path(paths), st.sampled_from(["--test", "--invert"])), max_size=2))
    else:
        args = ["bench", data.draw(st.one_of(st.sampled_from(["lenet5"]), NAMES)), "--device", "cpu", "--min-time", "0.01",
                "--batch-size", "1"]  # fmt: skip
        args += data.draw(st.sampled_from([["--batch-size", "1"], ["--batch-size", "0"], ["--batch-size", "a,b"], ["--batch-size", ""],
                                           ["--mode", "fly"], ["--baseline", paths["broken"]], ["--baseline", paths["other"]],
                                           ["--threads", "0"], ["--input", "0x0"], ["--input", "1x32x32", "--input", "3"],
                                           ["--format", "markdown"], ["--device", "cuda"]]))  # fmt: skip
    assert_clean(_runner()(args), args)
