"""Every command driven with random and malformed arguments: never a traceback, exit 0, 1 or 2, a short message.

Each command has a table of its options with values that mix good pieces (tiny models, shapes that
fit, a small IDX data set, a checkpoint trained once) with broken ones (unknown names, unicode,
shapes of every rank with zero, negative or huge sizes, wrong dtypes, numbers out of range, paths
that do not exist, sit under a regular file, are folders where a file is expected, or hold the
wrong bytes). A test checks that the tables name every command and option ``--help`` shows, so a
new option is fuzzed as soon as it exists.

Cheap by construction, about 3,000 cases in a minute: most cases fail in parsing or validation,
the heavy options get small values (one epoch of a few images, a hundredth of a second of
timing), and the options that would run for long (``--compile``, ``check --all``) only come with
an argument that stops the run before its work starts.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from fashion_fixtures import synthetic_split, write_idx_set
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FAST_MODELS = ["lenet5", "lenet", "lenet-fashion", "fashion-fast"]
# No "--" among them: it would turn the options after it into more model names, and bench times each with its defaults.
BAD_NAMES = ["resnet5", "", ":", "nosuch:attr", "x.py:", "torch.nn:Module", "torch.nn:Linear", "os:path", "ünïcødé", "-", "models",
             "lenet5 ", "LeNet5", "a" * 200]  # fmt: skip
SHAPES = st.one_of(
    st.sampled_from(["1x32x32", "28x28", "1x28x28", "3x32x32", "0x0x0", "3x-1x5", "3", "4", "128:int64", "1x32x32:bfloat16",
                     "1x32x32:float16", "1x32x32:int65", "1x32x32:", "x=1x32x32", "input=1x32x32", "1=3", "100000x100000x100000",
                     "1x4096x4096", "2x2", "1x1x1x1x1", "nan", "1e3x3", "３x３２x３２", "", "1x32x32:int8", "-1", "1x32x32x",
                     "99999999999999999999x2"]),
    st.lists(st.integers(-3, 70), min_size=0, max_size=5).map(lambda dims: "x".join(map(str, dims))),
    st.text(max_size=8),
)  # fmt: skip
NUMBERS = st.sampled_from(["1", "2", "0", "-1", "10000000000000", "1.5", "abc", "", "७", "1e3", "0x10"])
FORMATS = st.sampled_from(["table", "json", "csv", "markdown", "xml", "", "JSON"])
CONVENTIONS = st.sampled_from(["lenet", "macs", "flops", "fvcore", "bogus", ""])
OPTIMIZERS = st.sampled_from(["sgd", "momentum", "adam", "adamw", "lion", ""])
# --timeout: tiny ones stop the trace part-way, huge and odd ones are refused
DEVICES = st.sampled_from(["cpu", "auto", "cuda", "mps", "tpu", ""])
TIMEOUTS = st.sampled_from(["30", "0.001", "0.05", "0", "-1", "1e308", "inf", "nan", "86400", "86401", "abc", ""])
NOISE = st.one_of(st.sampled_from(["--bogus", "-z", "--", "--help", "-", "--input", "--out", "=", "--format=json"]), st.text(max_size=6))


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    """Paths of every awkward kind: missing, a folder, under a regular file, empty, not what they claim to be."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "folder").mkdir()
    (root / "empty.json").write_text("")
    (root / "broken.json").write_text("{not json")
    (root / "other.json").write_text('{"version": 1}')
    (root / "noise.bin").write_bytes(bytes(range(256)) * 4)
    (root / "tiny.py").write_text("import torch.nn as nn\nnet = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))\nnet.input_size = (4,)\n")
    (root / "linear28.py").write_text(
        "import torch.nn as nn\nnet = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))\nnet.input_size = (1, 28, 28)\n"
    )
    (root / "raises.py").write_text("raise RuntimeError('broken on import')\n")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    _write_image(root / "shirt.png", 28)
    _write_image(root / "large.jpg", 64)
    data = root / "data"
    data.mkdir()
    write_idx_set(data, 32, 8)
    truncated = root / "truncated-data"
    truncated.mkdir()
    write_idx_set(truncated, 32, 8, gz=False)
    images = truncated / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    return {
        "missing": str(root / "missing" / "file.json"), "folder": str(root / "folder"), "empty": str(root / "empty.json"),
        "broken": str(root / "broken.json"), "other": str(root / "other.json"), "noise": str(root / "noise.bin"),
        "under-file": str(root / "empty.json" / "inside.json"), "model": f"{root / 'tiny.py'}:net",
        "linear28": f"{root / 'linear28.py'}:net", "raises": f"{root / 'raises.py'}:net", "image": str(root / "image.png"),
        "shirt": str(root / "shirt.png"), "large": str(root / "large.jpg"), "data": str(data), "truncated-data": str(truncated),
        "out": str(root / "out" / "result.txt"), "root": str(root),
    }  # fmt: skip


def _write_image(path: Path, size: int) -> None:
    from PIL import Image

    image, _ = synthetic_split(1, 3)
    Image.fromarray(image[0]).resize((size, size)).save(path)


@pytest.fixture(scope="module")
def invoke(paths):
    """Run the CLI in-process inside the fuzz folder (default run folders land there), the command built once."""
    import typer.main
    import typer.testing
    from typer.testing import CliRunner

    from cnnstat.cli import app

    command = typer.main.get_command(app)
    env = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "XDG_CACHE_HOME": str(Path(paths["root"]) / "cache"),
           "CNNSTAT_DATA": paths["folder"]}  # fmt: skip
    runner = CliRunner()
    previous = Path.cwd()
    os.chdir(paths["root"])
    # Typer rebuilds the command from the app's signatures on every invoke: 30 ms, ten times a usage error.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", lambda target: command if target is app else typer.main.get_command(target))
        yield lambda args: runner.invoke(app, args, env=env)
    os.chdir(previous)


@pytest.fixture(scope="module")
def checkpoints(paths, invoke) -> dict[str, str]:
    """A run trained once on the tiny data set, and checkpoints broken in every way a file can be."""
    import torch

    root = Path(paths["root"])
    run = root / "trained"
    result = invoke(["train", "lenet5", "--data", paths["data"], "--epochs", "1", "--limit", "8", "--val", "0", "--out", str(run)])
    assert result.exit_code == 0, result.output
    best = next(p for p in (run / "best.pt", run / "last.pt") if p.exists())
    (root / "truncated.pt").write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    (root / "empty.pt").write_bytes(b"")
    torch.save({"state": [1, 2, 3]}, root / "foreign.pt")
    torch.save(torch.zeros(3), root / "tensor.pt")
    (root / "no-run").mkdir()
    baseline = root / "baseline.json"
    result = invoke(["bench", "lenet5", "--device", "cpu", "--min-time", "0.01", "--batch-size", "1", "-f", "json", "-o", str(baseline)])
    assert result.exit_code == 0, result.output
    return {"run": str(run), "best": str(best), "truncated": str(root / "truncated.pt"), "empty": str(root / "empty.pt"),
            "foreign": str(root / "foreign.pt"), "tensor": str(root / "tensor.pt"), "no-run": str(root / "no-run"),
            "baseline": str(baseline)}  # fmt: skip


def assert_clean(result, args) -> None:
    """No traceback, a known exit code, and a message of at most a few lines that says something."""
    output = result.output
    assert "Traceback" not in output, (args, output[-2000:])
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, output[-2000:], result.exception)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError((args, repr(result.exception)))
    stderr = [line for line in result.stderr.splitlines() if line.strip()]
    if result.exit_code == 1:
        if args and args[0] == "check" and any(found in output for found in ("MISMATCH", " differs ", "breaks the budget",
                                                                                "no snapshot ")):  # fmt: skip
            return  # a check that found a difference, a broken budget or (in CI, or --frozen) no snapshot: its report says so
        first = next((index for index, line in enumerate(stderr) if line.startswith("error:")), None)
        assert first is not None and stderr[first].removeprefix("error:").strip(), (args, output[-2000:])
        assert len(stderr) - first <= 3, (args, stderr[first:])
    elif result.exit_code == 2:
        echoed = sum(len(arg) for arg in args) // 90  # typer's panel wraps the arguments it quotes back
        assert ("Usage:" in result.stderr or "─ Error ─" in result.stderr) and len(stderr) <= 8 + echoed, (args, result.stderr)


def _one(paths: dict[str, str], *keys: str):
    return st.sampled_from([paths[key] for key in keys])


def _files(paths: dict[str, str]):
    """Any awkward path, for options that read or write a file."""
    return _one(paths, "missing", "folder", "empty", "broken", "other", "noise", "under-file", "image", "out")


def _fresh(paths: dict[str, str], prefix: str):
    """A path that does not exist yet, a new one for every case."""
    counter = itertools.count()
    return st.builds(lambda: str(Path(paths["root"]) / "fresh" / f"{prefix}-{next(counter)}"))


def _models(paths: dict[str, str], good: list[str]):
    return st.one_of(st.sampled_from(good or BAD_NAMES), st.sampled_from(BAD_NAMES), _one(paths, "model", "raises", "missing", "folder"),
                     st.text(max_size=12))  # fmt: skip


def _counting_options(paths):
    return {
        "--input": SHAPES, "-i": SHAPES, "--batch": NUMBERS, "-b": NUMBERS, "--format": FORMATS, "-f": FORMATS,
        "--convention": CONVENTIONS, "-c": CONVENTIONS, "--optimizer": OPTIMIZERS, "--train": None, "--timeout": TIMEOUTS,
        "--out": st.one_of(_files(paths), _fresh(paths, "count")), "-o": _files(paths),
    }  # fmt: skip


def option_tables(paths: dict[str, str], checkpoints: dict[str, str]) -> dict[str, dict]:
    """Per command: every option (each of its spellings) and the values it is fuzzed with; None for a flag."""
    view = {
        "--columns": st.one_of(st.sampled_from(["name,macs", "name,flops,params", "nope", "", ",", "name,,macs", "macs"]), st.text(max_size=6)),
        "--depth": NUMBERS, "--by": st.sampled_from(["type", "layer", "module", ""]),
        "--sort": st.sampled_from(["macs", "flops", "params", "name", "zzz", ""]), "--top": NUMBERS, "--explain": None,
    }  # fmt: skip
    run_out = st.one_of(_one(paths, "folder", "under-file", "empty", "missing"), _fresh(paths, "run"),
                        st.just(str(Path(paths["root"]) / "runs" / "shared")))  # fmt: skip
    drawing = {
        option: values for option, values in _counting_options(paths).items()
        if option in ("--input", "-i", "--batch", "-b", "--convention", "-c", "--optimizer", "--train", "--timeout")
    }
    drawing.update({"--depth": NUMBERS, "--color": st.sampled_from(["macs", "params", "flops", "bytes", "time", "zzz", ""])})
    diagram_out = st.one_of(_files(paths), st.sampled_from(["net.gif", "net", ""]))
    checkpoint = st.sampled_from(list(checkpoints.values()) + [paths["missing"], paths["under-file"], paths["noise"], paths["broken"]])
    return {
        "summary": {**_counting_options(paths), **view},
        "flops": {**_counting_options(paths), **view},
        "models": {"--torchvision": None, "--format": FORMATS, "-f": FORMATS, "--out": _files(paths), "-o": _files(paths),
                   "--source": st.sampled_from(["zoo", "torchvision", "timm", "hf", "file", "bogus", ""])},  # fmt: skip
        "compare": {
            **_counting_options(paths),
            "--plot": st.one_of(_one(paths, "folder", "under-file", "missing", "image"), st.sampled_from(["x.gif", "plot", ""]),
                                _fresh(paths, "plot").map(lambda path: path + ".png")),
            "--profile": None,
        },  # fmt: skip
        "graph": {**drawing, "--profile": None, "--out": st.one_of(diagram_out, _fresh(paths, "graph").map(lambda path: path + ".svg")),
                  "-o": diagram_out},  # fmt: skip
        "report": {**drawing, "--profile": None, "--check": None, "--out": st.one_of(_files(paths), _fresh(paths, "report").map(lambda path: path + ".html")),
                   "-o": _files(paths)},  # fmt: skip
        "profile": {
            **{option: values for option, values in _counting_options(paths).items()
               if option in ("--input", "-i", "--batch", "-b", "--format", "-f", "--out", "-o")},
            **{option: values for option, values in view.items() if option in ("--depth", "--by", "--top", "--sort")}, "-d": NUMBERS,
            "--device": DEVICES, "--dtype": st.sampled_from(["float32", "bfloat16", "float16", "int8", ""]), "--train": None,
            "--repeats": NUMBERS, "-r": NUMBERS, "--on": st.sampled_from(["h100", "H100", "a100", "tpu", ""]),
            "--threads": NUMBERS, "--remeasure": None,
            "--plot": st.one_of(_one(paths, "folder", "under-file", "image"), _fresh(paths, "roofline").map(lambda path: path + ".png")),
        },  # fmt: skip
        "device": {"--device": DEVICES, "--threads": NUMBERS, "--remeasure": None, "--format": FORMATS, "-f": FORMATS},
        "check": {
            "--all": None, "--input": SHAPES, "-i": SHAPES,
            "--against": st.sampled_from(["none", "paper", "torchvision", "paper,torchvision", "none,paper", " , ", "zzz", "paper,zzz",
                                          "fvcore", "torch"]),
            "--snapshot": st.one_of(st.just(str(Path(paths["root"]) / "snapshots")), _one(paths, "empty", "under-file", "folder"),
                                    _fresh(paths, "snapshots")),
            "--update-snapshot": None, "--format": FORMATS, "-f": FORMATS, "--timeout": TIMEOUTS,
            "--out": st.one_of(_files(paths), _fresh(paths, "check")), "-o": _files(paths),
            "--frozen": None,
            "--budget": st.sampled_from(["macs<=1G", "params<1", "activation_bytes>=1KiB", "x<=1", "macs<=1Q", "macs=1", "", "<=1"]),
        },  # fmt: skip
        "diff": {
            "--input": SHAPES, "-i": SHAPES, "--input-b": SHAPES, "--format": FORMATS, "-f": FORMATS,
            "--out": st.one_of(_files(paths), _fresh(paths, "diff")), "-o": _files(paths),
        },  # fmt: skip
        "train": {
            "--recipe": st.sampled_from(["classic", "fast", "best", "lecun1998", "bogus", ""]), "-r": st.sampled_from(["fast", "x"]),
            "--dataset": st.sampled_from(["fashion-mnist", "mnist", "kmnist", "cifar", ""]), "-d": st.sampled_from(["mnist", "x"]),
            # a budget that parses measures the pace for seconds, whatever --epochs says: one value in ten
            "--time-budget": st.sampled_from(["1s", "0s", "-1s", "abc", "1e400h", "", "1x", "s", "m1", "१s"]),
            "-t": st.sampled_from(["1s", "x", "-5m", "", "h", "0", "1 s s", "1.5.5s", "NaNs", "infs"]),
            "--epochs": st.sampled_from(["1", "1", "1", "2", "0", "-2", "x", "1.5"]),
            "--val": st.sampled_from(["0", "0", "4", "4", "8", "32", "100000", "-1", "x"]),
            "--batch-size": st.sampled_from(["4", "8", "1", "0", "x", "100000"]),
            "--lr": st.sampled_from(["0.01", "0", "-1", "nan", "inf", "1e308", "x"]), "--optimizer": OPTIMIZERS,
            "--compile-mode": st.sampled_from(["off", "default", "reduce-overhead", "max-autotune", "fastest", ""]),
            "--input-size": st.sampled_from(["1x28x28", "1x32x32", "3x28x28", "0x0x0", "1x8x8", "28x28", "abc", ""]),
            "--device": st.sampled_from(["cpu", "cpu", "auto", "cuda", "mps", "tpu"]),
            "--seed": st.sampled_from(["0", "1", "-1", "x", "2147483648", "4294967296", "1.5"]),  # 2^32: past its bound
            "--out": run_out, "-o": run_out, "--resume": None, "--no-resume": None,
            "--limit": st.sampled_from(["8", "8", "8", "4", "1", "0", "-1", "x", "100000"]),
            "--data": _one(paths, "data", "data", "data", "folder", "missing", "under-file", "truncated-data", "empty"),
            "--download": None, "--no-download": None,
        },  # fmt: skip
        "predict": {
            "--test": None, "--out": st.one_of(_files(paths), _fresh(paths, "labels").map(lambda path: path + ".csv")),
            "-o": _files(paths), "--invert": None, "--no-invert": None,
            "--data": _one(paths, "data", "data", "folder", "missing", "truncated-data"),
            "--model": st.one_of(st.sampled_from(["lenet5", "lenet-fashion", "zzz", ""]), _one(paths, "model", "linear28", "raises")),
            "--checkpoint": checkpoint,
        },  # fmt: skip
        "bench": {
            "--device": st.sampled_from(["cpu", "cpu", "cpu", "auto", "cuda", "mps", "tpu"]),
            "--mode": st.sampled_from(["infer", "train", "fly", ""]),
            "--batch-size": st.sampled_from(["1", "2", "1,2", "0", "a,b", "", "1,,2", "-1", ",", "1.5"]),
            "--input": SHAPES, "-i": SHAPES, "--amp": None, "--channels-last": None, "--compile": None, "--against-compiled": None,
            "--threads": st.sampled_from(["1", "2", "0", "100000", "1025", "x", "-1"]),
            "--min-time": st.sampled_from(["0.01", "0.01", "0.001", "0", "-1", "x", ""]),
            "--format": FORMATS, "-f": FORMATS,
            "--baseline": st.one_of(st.just(checkpoints["baseline"]), _files(paths)),
            "--out": st.one_of(_files(paths), _fresh(paths, "bench")), "-o": _files(paths),
        },  # fmt: skip
    }


@st.composite
def command_line(draw, tables: dict[str, dict], command: str, arguments, forced: tuple[str, ...] = (), most: int = 4,
                 noise=NOISE):  # fmt: skip
    """``command``, its positional arguments, up to ``most`` random options with values, the ``forced`` ones, maybe noise.

    Noise goes between an option and the next, never between an option and its value, so that the forced
    options (the ones that keep a run short) keep their values.
    """
    table = tables[command]
    groups = [[argument] for argument in draw(arguments)]
    pool = sorted(option for option in table if option not in forced and option != "--checkpoint")
    for option in draw(st.lists(st.sampled_from(pool), max_size=most)) + list(forced):
        value = table[option]
        groups.append([option] if value is None else [option, draw(value)])
    if draw(st.integers(0, 9)) == 0:  # a stray token
        groups.insert(draw(st.integers(0, len(groups))), [draw(noise)])
    return [command, *(part for group in groups for part in group)]


# Noise for the commands that run for long: nothing that takes the next token as its value or turns options into names.
SAFE_NOISE = st.one_of(st.sampled_from(["--bogus", "-z", "--help", "="]), st.text(alphabet="xyzä", min_size=1, max_size=4))
# A first option no command has: parsing stops there, whatever follows.
STOP = "--no-such-option"


SETTINGS = {"deadline": None, "derandomize": True, "database": None,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]}  # fmt: skip


@pytest.fixture(scope="module")
def tables(paths, checkpoints) -> dict[str, dict]:
    return option_tables(paths, checkpoints)


def test_the_fuzz_tables_name_every_command_and_option(tables):
    import typer.main

    from cnnstat.cli import app

    group = typer.main.get_command(app)
    assert sorted(group.commands) == sorted(tables), "a command without a fuzz table (or a table without a command)"
    for name, command in group.commands.items():
        spellings = {spelling for param in command.params if param.param_type_name == "option"
                     for spelling in (*param.opts, *param.secondary_opts)}  # fmt: skip
        missing = spellings - set(tables[name]) - {"--help"}
        assert not missing, f"cnnstat {name}: options not fuzzed: {sorted(missing)}"


@settings(max_examples=1100, **SETTINGS)
@given(data=st.data())
def test_any_command_line_fails_cleanly(tables, invoke, data):
    """Tokens of every command, shuffled: parsing and validation answer each with one message."""
    tokens = sorted({option for table in tables.values() for option in table} | set(tables))
    command = data.draw(st.sampled_from(sorted(tables)))
    words = st.one_of(st.sampled_from(tokens), st.sampled_from(FAST_MODELS + BAD_NAMES), NUMBERS, SHAPES, NOISE)
    args = [command, *data.draw(st.lists(words, max_size=6))]
    if command in ("train", "bench", "check", "compare", "models", "profile", "device", "report", "graph", "diff"):
        args.insert(1, STOP)  # these run for long on arguments that happen to work: here only parsing is fuzzed
    assert_clean(invoke(args), args)


@settings(max_examples=750, **SETTINGS)
@given(data=st.data())
def test_summary_and_flops_never_trace_back(tables, paths, invoke, data):
    command = data.draw(st.sampled_from(["summary", "flops"]))
    arguments = st.one_of(_models(paths, FAST_MODELS).map(lambda name: [name]), st.just([]),
                          st.lists(st.sampled_from(FAST_MODELS), min_size=2, max_size=2))  # fmt: skip
    args = data.draw(command_line(tables, command, arguments))
    assert_clean(invoke(args), args)


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_models_and_compare_never_trace_back(tables, paths, invoke, data):
    if data.draw(st.integers(0, 3)) == 0:
        patterns = st.lists(st.one_of(st.sampled_from(["lenet*", "zzz*", "[", "fashion-*", "lenet5"]), st.text(max_size=6)), max_size=2)
        args = data.draw(command_line(tables, "models", patterns, most=2))
        if "--torchvision" in args or not any(a in args for a in ("lenet*", "zzz*", "fashion-*", "lenet5", "[")):
            args.insert(1, STOP)  # every model listed takes a third of a second: here only parsing is fuzzed
    else:
        names = st.lists(st.one_of(st.sampled_from(["lenet5", "lenet-fashion", paths["model"]]), _models(paths, [])), max_size=3)
        args = data.draw(command_line(tables, "compare", names, most=3))
    assert_clean(invoke(args), args)


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_check_never_traces_back(tables, paths, invoke, data):
    names = st.lists(st.one_of(st.sampled_from(["lenet5", "lenet-fashion", paths["model"]]), _models(paths, [])), max_size=2)
    args = data.draw(command_line(tables, "check", names, forced=("--against",), most=3, noise=SAFE_NOISE))
    if "--all" in args:
        args += ["--against", "zzz"]  # every zoo model: parsing is fuzzed, the unknown reference stops it before any work
    assert_clean(invoke(args), args)


@settings(max_examples=250, **SETTINGS)
@given(data=st.data())
def test_train_never_traces_back(tables, paths, invoke, data):
    """One or two epochs of at most eight images from the fuzz folder's own data set (never a download)."""
    models = st.one_of(st.sampled_from(["lenet5", "fashion-fast", paths["linear28"], paths["model"]]), _models(paths, []))
    args = data.draw(command_line(tables, "train", models.map(lambda name: [name]), forced=("--epochs", "--limit", "--val", "--data"),
                                  most=3, noise=SAFE_NOISE))  # fmt: skip
    assert_clean(invoke(args), args)


@settings(max_examples=250, **SETTINGS)
@given(data=st.data())
def test_predict_never_traces_back(tables, paths, invoke, data):
    images = st.lists(_one(paths, "shirt", "large", "image", "noise", "folder", "missing", "under-file", "broken"), max_size=2)
    checkpoint = tables["predict"]["--checkpoint"]
    args = data.draw(command_line(tables, "predict", st.tuples(checkpoint).flatmap(lambda c: images.map(lambda i: [*c, *i])),
                                  forced=("--data",), most=3))  # fmt: skip
    assert_clean(invoke(args), args)


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_bench_never_traces_back(tables, paths, invoke, data):
    """A hundredth of a second per measurement, batches of one or two; --compile only where the run stops first."""
    models = st.lists(st.one_of(st.sampled_from(["lenet5", paths["model"]]), _models(paths, [])), min_size=0, max_size=2)
    args = data.draw(command_line(tables, "bench", models, forced=("--device", "--min-time", "--batch-size"), most=3,
                                  noise=SAFE_NOISE))
    if "--compile" in args:
        args += ["--batch-size", "0"]  # torch.compile takes tens of seconds: stop at the batch sizes
    assert_clean(invoke(args), args)


# Found by this fuzzing and fixed: each stays here as a case of its own.
KNOWN_FAILURES = [
    pytest.param(["summary", "lenet5", "--batch", str(10**23)], id="batch-beyond-int64"),
    pytest.param(["train", "a" * 300, "--epochs", "1", "--limit", "8", "--val", "0"], id="model-name-too-long-for-a-run-folder"),
    pytest.param(["train", "lenet5", "--seed", str(2**64), "--epochs", "1", "--limit", "8", "--val", "0"], id="seed-beyond-int64"),
    pytest.param(["predict", "a" * 300], id="checkpoint-name-too-long"),
    pytest.param(["bench", "lenet5", "--min-time", "inf", "--threads", "100000"], id="endless-min-time"),
]  # fmt: skip


@pytest.mark.parametrize("args", KNOWN_FAILURES)
def test_known_failures(invoke, paths, args):
    args = [*args, "--data", paths["data"]] if args[0] == "train" else args
    result = invoke(args)
    assert_clean(result, args)
    if "--min-time" in args:  # refused while parsing, before --threads stops the run
        assert result.exit_code == 2, result.output
