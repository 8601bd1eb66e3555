"""cnnstat beside fvcore, ptflops, thop, torchinfo and torchscan on the five classics; prints every figure.

Run: .venv/bin/python bench/compare_tools.py [--venv DIR] [--models lenet5,resnet50] [--tools thop,fvcore]

ptflops, thop, torchinfo and torchscan are not dependencies of cnnstat. The script makes a
throw-away virtualenv (a temporary folder, removed afterwards; or DIR with --venv, kept and reused),
lets it see the project's own packages (torch, torchvision, fvcore, cnnstat) through a .pth file so
that torch is not downloaded again, pip-installs the four tools there and runs each tool on each
model in a fresh subprocess (one CPU thread). Every model is built by ``cnnstat.get_model`` with
real CPU tensors and put in eval mode before a tool sees it, so all tools count the same module.

It prints, as Markdown: the versions; one table of every tool's parameter count and FLOP/MAC
figures beside cnnstat's four conventions; a ledger per tool that predicts the tool's figure from
cnnstat's per-layer report under the tool's own rule and shows what is left over; small
probes that isolate a rule in a one-layer model; and receptive fields beside torchscan's.
The test suite does not run it. It takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIP_PACKAGES = ("ptflops", "thop", "torchinfo", "torchscan")
TOOLS = ("ptflops", "ptflops-aten", "thop", "torchinfo", "torchscan", "fvcore")
GOOGLENET_TV = "googlenet-tv"  # torchvision.models.googlenet(weights=None): aux heads kept, plus transform_input=True
MODELS = ("lenet5", "alexnet", "vgg16", "googlenet", "resnet50", GOOGLENET_TV)
INPUTS = {"lenet5": (1, 32, 32)}
DEFAULT_INPUT = (3, 224, 224)
CONVENTIONS = ("macs", "flops", "fvcore", "lenet")


def input_shape(name: str) -> tuple[int, ...]:
    return INPUTS.get(name, DEFAULT_INPUT)


def build(name: str):
    """The module every tool counts: cnnstat's build of a zoo name (torchvision's classes), in eval mode."""
    if name == GOOGLENET_TV:
        import torchvision

        model = torchvision.models.googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=True)
    else:
        import cnnstat

        model = cnnstat.get_model(name)
    return model.eval()


# ------------------------------------------------------------------ worker side: one tool, one model


def run_tool(tool: str, name: str) -> dict:
    """One tool on one model: its parameter count and its figures as exact integers, and how it prints them."""
    import contextlib
    import io
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    model = build(name)
    shape = input_shape(name)
    x = torch.rand(1, *shape)
    quiet = io.StringIO()
    if tool in ("ptflops", "ptflops-aten"):
        from ptflops import get_model_complexity_info
        from ptflops.utils import flops_to_string

        backend = "aten" if tool == "ptflops-aten" else "pytorch"
        with contextlib.redirect_stdout(quiet):
            macs, params = get_model_complexity_info(
                model, shape, as_strings=False, print_per_layer_stat=False, backend=backend, ost=quiet
            )
        if macs is None:
            raise RuntimeError("ptflops returned no figure: " + quiet.getvalue()[-400:])
        return {"params": int(params), "figures": {"MACs": int(macs)}, "printed": {"MACs": flops_to_string(macs)}}
    if tool == "thop":
        from thop import clever_format, profile

        macs, params = profile(model, inputs=(x,), verbose=False)
        return {"params": int(params), "figures": {"MACs": int(macs)}, "printed": {"MACs": clever_format(macs, "%.3f")}}
    if tool == "torchinfo":
        from torchinfo import summary

        stats = summary(model, input_size=(1, *shape), verbose=0)
        line = next(s for s in str(stats).splitlines() if s.startswith("Total mult-adds"))
        return {
            "params": int(stats.total_params),
            "figures": {"mult-adds": int(stats.total_mult_adds)},
            "printed": {"mult-adds": line},
        }
    if tool == "torchscan":
        from torchscan import crawl_module
        from torchscan.utils import format_info

        report = crawl_module(model, shape)
        totals = report["totals"]

        def value(key: str) -> int:
            result = totals[key]
            return int(result["value"] if result["value"] is not None else result["known_value"])

        lines = format_info(report).splitlines()

        def printed(prefix: str) -> str:
            return next(s for s in lines if s.startswith(prefix))

        return {
            "params": value("parameters"),
            "figures": {
                "MACs": value("macs"),
                "FLOPs": value("module_flops"),
                "operator FLOPs": value("operator_flops"),
            },
            "printed": {
                "MACs": printed("Multiply-Accumulations"),
                "FLOPs": printed("Module-formula forward FLOPs"),
                "operator FLOPs": printed("Operator forward FLOPs"),
            },
            "notes": sorted({d["message"] for d in report["diagnostics"]}),
            "receptive_field": [
                [layer["path"], layer["type"], layer["metrics"].get("receptive_field", {}).get("value")]
                for layer in report["layers"]
            ],
        }
    if tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis, flop_count_str, parameter_count

        analysis = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = int(analysis.total())
        skipped = analysis.unsupported_ops()
        first = next(line.strip() for line in flop_count_str(analysis).splitlines() if "#flops" in line)
        return {
            "params": int(parameter_count(model)[""]),
            "figures": {"FLOPs": total},
            "printed": {"FLOPs": first},
            "notes": [f"skipped {op} ×{n}" for op, n in sorted(skipped.items())]
            + ([f"{len(analysis.uncalled_modules())} modules never called"] if analysis.uncalled_modules() else []),
        }
    raise ValueError(f"unknown tool {tool}")


def run_probes() -> list[list[str]]:
    """One-layer models that isolate a rule; each row: tool, model, figure, what it shows."""
    import contextlib
    import io
    import warnings

    import torch
    from torch import nn

    warnings.filterwarnings("ignore")
    rows = []
    quiet = io.StringIO()
    try:
        from ptflops import get_model_complexity_info

        with contextlib.redirect_stdout(quiet):
            both, _ = get_model_complexity_info(
                nn.Sequential(nn.ReLU()), (10,), as_strings=False, print_per_layer_stat=False, backend="pytorch"
            )
            hooks, _ = get_model_complexity_info(
                nn.Sequential(nn.ReLU()), (10,), as_strings=False, print_per_layer_stat=False, backend="pytorch",
                backend_specific_config={"count_functional": False},
            )  # fmt: skip
        rows.append(["ptflops", "nn.ReLU() on 10 elements", f"{both} MACs",
                     f"{hooks} with count_functional=False: the module hook and the F.relu patch each count the 10 elements"])  # fmt: skip
    except Exception as error:  # a probe that fails is reported, not fatal
        rows.append(["ptflops", "nn.ReLU() on 10 elements", "failed", repr(error)])
    try:
        from ptflops import get_model_complexity_info

        class Called(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.add(x, x)

        class Operator(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                x = x.clone()
                x += x  # ResNet's residual addition is written this way
                return x + x

        with contextlib.redirect_stdout(quiet):
            called, _ = get_model_complexity_info(
                Called(), (10,), as_strings=False, print_per_layer_stat=False, backend="pytorch"
            )
            written, _ = get_model_complexity_info(
                Operator(), (10,), as_strings=False, print_per_layer_stat=False, backend="pytorch"
            )
        rows.append(["ptflops", "10 elements: torch.add(x, x) vs x += x then x + x", f"{called} vs {written} MACs",
                     "it patches torch.add and Tensor.add, not the + and += operators: two additions written as operators count 0"])  # fmt: skip
    except Exception as error:
        rows.append(["ptflops", "torch.add vs +", "failed", repr(error)])
    try:
        from thop import profile

        macs, _ = profile(nn.BatchNorm2d(1).eval(), inputs=(torch.rand(1, 1, 1, 10),), verbose=False)
        rows.append(["thop", "nn.BatchNorm2d(1) on 10 elements", f"{int(macs)} MACs",
                     "4 per element: calculate_norm gives 2 per element, then ×2 again for the affine scale and shift"])  # fmt: skip
    except Exception as error:
        rows.append(["thop", "nn.BatchNorm2d(1) on 10 elements", "failed", repr(error)])
    try:
        from torchscan import crawl_module

        def macs(module: nn.Module, shape: tuple[int, ...]) -> int:
            return int(crawl_module(module, shape)["totals"]["macs"]["value"])

        as_int, as_tuple = macs(nn.MaxPool2d(3), (1, 9, 9)), macs(nn.MaxPool2d((3, 3)), (1, 9, 9))
        rows.append(["torchscan", "nn.MaxPool2d(3) vs nn.MaxPool2d((3, 3)), 9 outputs", f"{as_int} vs {as_tuple} MACs",
                     "the same 3×3 pooling: an int kernel_size is read as 3 taps (2 comparisons per output), a tuple as 9 (8)"])  # fmt: skip
        report = crawl_module(nn.Sequential(nn.Dropout(0.5)), (10,))
        flops = int(report["totals"]["module_flops"]["value"])
        rows.append(["torchscan", "nn.Dropout(0.5) in eval mode on 10 elements", f"{flops} FLOPs",
                     "dropout is the identity in eval mode, but flops_dropout counts one per element whenever p > 0"])  # fmt: skip
    except Exception as error:
        rows.append(["torchscan", "probes", "failed", repr(error)])
    return rows


def versions() -> dict:
    """Versions of every package the comparison uses, as the throw-away environment sees them."""
    import inspect
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "torchvision", "fvcore", *PIP_PACKAGES):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    import torch

    found["torch imported from"] = str(Path(torch.__file__).parent)
    try:
        from ptflops import get_model_complexity_info

        default = inspect.signature(get_model_complexity_info).parameters["backend"].default
        found["ptflops default backend"] = getattr(default, "value", str(default))
    except Exception as error:
        found["ptflops default backend"] = f"unknown ({error!r})"
    return found


def worker(arguments: list[str]) -> int:
    """Entry point inside the throw-away environment: print one JSON line."""
    start = time.perf_counter()
    if arguments[0] == "versions":
        result: object = versions()
    elif arguments[0] == "probes":
        result = run_probes()
    else:
        tool, name = arguments
        result = run_tool(tool, name)
        result["seconds"] = round(time.perf_counter() - start, 2)
    print(json.dumps(result))
    return 0


# ------------------------------------------------------------------ driver side: environment, runs, table


def make_environment(folder: Path) -> tuple[Path, str]:
    """A virtualenv in ``folder`` that sees the project's packages and has the four tools; its python and pip's report."""
    python = folder / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # addsitedir, not a bare path, so the project's own .pth files (cnnstat's editable install) are read too.
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages())
    (Path(purelib) / "cnnstat-project.pth").write_text(lines)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = subprocess.run([str(python), "-m", "pip", "install", *PIP_PACKAGES], env=env, capture_output=True, text=True)
    installed = [line for line in pip.stdout.splitlines() if line.startswith("Successfully installed")]
    if pip.returncode != 0:
        report = f"pip install {' '.join(PIP_PACKAGES)} failed (exit {pip.returncode}): {pip.stderr.strip()[-600:]}"
    elif installed:
        report = f"pip install {' '.join(PIP_PACKAGES)}: {installed[-1]}"
    else:
        report = f"pip install {' '.join(PIP_PACKAGES)}: all already installed"
    return python, report


def in_environment(python: Path, arguments: list[str], timeout: float = 600) -> tuple[object, str]:
    """Run the worker in the throw-away environment; its JSON result, or None and the error's last line."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            [str(python), str(Path(__file__).resolve()), "--worker", *arguments],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    if done.returncode != 0 or not done.stdout.strip():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"exit {done.returncode}: {last}"
    return json.loads(done.stdout.strip().splitlines()[-1]), ""


def cnnstat_reports(name: str) -> dict:
    """cnnstat's report under each convention (convention changes only the flops column)."""
    import cnnstat

    if name == GOOGLENET_TV:
        model = build(name)
        return {c: cnnstat.analyze(model, input_size=DEFAULT_INPUT, convention=c) for c in CONVENTIONS}
    return {c: cnnstat.analyze(name, convention=c) for c in CONVENTIONS}


def number(value: int | float | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def signed(value: int) -> str:
    return "0" if value == 0 else f"{value:+,}"


# ------------------------------------------------------------------ the ledgers: each tool's rule on cnnstat's rows

BATCH_NORMS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
MAX_POOLS = ("MaxPool1d", "MaxPool2d", "MaxPool3d")
AVG_POOLS = ("AvgPool1d", "AvgPool2d", "AvgPool3d")
ADAPTIVE_AVG_POOLS = ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d")
# thop's register_hooks (thop/profile.py): modules it has a rule for; the parameters of any other module are not counted.
THOP_RULES = {
    "ZeroPad2d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", *BATCH_NORMS,
    "LayerNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "PReLU", "Softmax", "ReLU", "ReLU6", "LeakyReLU",
    *MAX_POOLS, "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", *AVG_POOLS, *ADAPTIVE_AVG_POOLS,
    "Linear", "Dropout", "Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d", "RNNCell", "GRUCell", "LSTMCell",
    "RNN", "GRU", "LSTM", "Sequential", "PixelShuffle", "SyncBatchNorm",
}  # fmt: skip
# ptflops (pytorch backend) patches these torch.nn.functional calls; nn.ReLU, nn.MaxPool2d, ... call them in forward.
PTFLOPS_FUNCTIONAL = {
    "relu", "prelu", "elu", "relu6", "gelu", "silu", "softmax", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
}  # fmt: skip
PTFLOPS_MODULE_POOLS = (*MAX_POOLS, *AVG_POOLS, *ADAPTIVE_AVG_POOLS)

LEGENDS = {
    "ptflops-aten": {
        "bias": "bias additions of convolutions and linear layers, 1 per output element (conv_flop_count, addmm_flop)",
    },
    "ptflops": {
        "bias": "bias additions of convolutions and linear layers, 1 per output element",
        "BN×2": "batch-norm elements × 2 (bn_flops_counter_hook, affine)",
        "ReLU": "nn.ReLU output elements (relu_flops_counter_hook)",
        "pool": "input elements of nn.MaxPool2d / nn.AdaptiveAvgPool2d (pool_flops_counter_hook)",
        "again": "the same ReLU and pooling elements a second time: ptflops also patches F.relu, F.max_pool2d, "
        "F.adaptive_avg_pool2d, which those modules' forward calls",
        "F.call": "input elements of F.relu / F.avg_pool2d called directly (GoogLeNet's BasicConv2d, LeNet's subsampling)",
    },
    "thop": {
        "BN×4": "batch-norm elements × 4 (calculate_norm gives 2 per element, count_normalization doubles it for affine)",
        "adaptive": "adaptive average pooling: (in/out window + 1) per output element (count_adap_avgpool)",
    },
    "torchinfo": {
        "bias": "bias additions: a conv's parameters × output positions, a linear's parameters × batch",
        "N·params": "batch × parameters of every other leaf module with parameters (batch norm: 2C; LeNet's subsampling: 2C)",
    },
    "torchscan MACs": {
        "BN×2": "batch-norm elements × 2 (macs_bn, affine)",
        "maxpool": "max pooling: (k − 1) per output with k the int kernel_size (3 for 3×3, 2 for 2×2), not k² − 1",
        "adaptive": "adaptive average pooling: (window − 1 + 2) per output element",
    },
    "torchscan FLOPs": {
        "×2": "one more cnnstat MAC count: 2 per MAC",
        "no-bias": "convolutions and linear layers without bias: 2·terms − 1 per output, one addition fewer than 2 per MAC",
        "ReLU": "nn.ReLU input elements",
        "sigmoid": "nn.Sigmoid input elements × 4",
        "BN": "batch norm: 4 per element + 2 per channel (flops_bn, affine)",
        "maxpool": "max pooling: (k − 1) per output with k the int kernel_size, not k² − 1",
        "adaptive": "adaptive average pooling: (window − 1 + 2) per output element",
        "dropout": "nn.Dropout input elements, counted although dropout is the identity in eval mode",
    },
    "torchscan operator FLOPs": {
        "×2": "torch's FlopCounterMode: 2 per MAC of convolutions and matrix products, nothing else",
    },
    "fvcore": {
        "BN×2": "batch-norm elements × 2 (batchnorm_flop_jit, inference with affine)",
        "adaptive": "adaptive_avg_pool2d input elements (elementwise_flop_counter(1, 0))",
    },
}


def numel(shape) -> int:
    return math.prod(shape) if shape else 0


def first_tensor(op) -> tuple[int, ...]:
    for argument in op.record.arguments.values():
        if hasattr(argument, "shape"):
            return argument.shape
    return ()


def bias_adds(row) -> int:
    """Bias additions of a row's convolutions and affine matrix products: one per output element."""
    total = 0
    for op in row.ops:
        if op.record.op == "convolution" and op.record.arguments.get("bias") is not None:
            total += numel(op.record.outputs[0].shape)
        elif op.record.op == "addmm":
            total += numel(op.record.outputs[0].shape)
    return total


def pool_kernel(row) -> tuple[int, ...]:
    for op in row.ops:
        if "kernel_size" in op.record.arguments:
            return tuple(op.record.arguments["kernel_size"])
    return ()


def adaptive_window(row) -> tuple[int, ...]:
    """torchscan's adaptive_kernel_size: in // out per spatial dimension, or in % out + 1 when it does not divide."""
    return tuple(i // o if i % o == 0 else i % o + 1 for i, o in zip(row.input_shape[2:], row.output_shape[2:], strict=False))


def ledger(tool: str, rows: list) -> list[tuple[str, int]]:
    """The terms by which ``tool``'s figure exceeds cnnstat's MACs, each counted from cnnstat's rows by the tool's rule."""
    terms: dict[str, int] = defaultdict(int)
    for row in (r for r in rows if r.output_shape is not None):  # rows of modules never called have no shapes
        kind, n_in, n_out = row.type, numel(row.input_shape), numel(row.output_shape)
        if tool == "ptflops-aten":
            terms["bias"] += bias_adds(row)
        elif tool == "ptflops":
            terms["bias"] += bias_adds(row) if row.is_module and kind in ("Conv2d", "Linear") else 0
            if kind in BATCH_NORMS:
                terms["BN×2"] += 2 * n_in
            elif kind == "ReLU":
                terms["ReLU"] += n_out
            elif kind in PTFLOPS_MODULE_POOLS:
                terms["pool"] += n_in
            for op in row.ops:
                if op.record.call in PTFLOPS_FUNCTIONAL:
                    hooked = row.is_module and (kind == "ReLU" or kind in PTFLOPS_MODULE_POOLS)
                    terms["again" if hooked else "F.call"] += numel(first_tensor(op))
        elif tool == "thop":
            if kind in BATCH_NORMS:
                terms["BN×4"] += 4 * n_in
            elif kind in ADAPTIVE_AVG_POOLS:
                terms["adaptive"] += int((numel(row.input_shape[2:]) / numel(row.output_shape[2:]) + 1) * n_out)
            elif kind in AVG_POOLS:
                terms["avgpool"] += n_out
        elif tool == "torchinfo":
            if row.is_module and kind in ("Conv2d", "Linear"):
                terms["bias"] += bias_adds(row)
            elif row.is_module and row.params:
                terms["N·params"] += row.output_shape[0] * row.params
        elif tool in ("torchscan MACs", "torchscan FLOPs"):
            flops = tool == "torchscan FLOPs"
            if flops:
                terms["×2"] += row.macs
                if kind in ("Conv2d", "Linear"):
                    terms["no-bias"] += bias_adds(row) - n_out
                elif kind == "ReLU":
                    terms["ReLU"] += n_in
                elif kind == "Sigmoid":
                    terms["sigmoid"] += 4 * n_in
                elif kind == "Dropout":
                    terms["dropout"] += n_in
            if kind in BATCH_NORMS:
                terms["BN" if flops else "BN×2"] += (4 * n_in + 2 * row.output_shape[1]) if flops else 2 * n_in
            elif kind in MAX_POOLS:
                terms["maxpool"] += n_out * (pool_kernel(row)[0] - 1)
            elif kind in ADAPTIVE_AVG_POOLS:
                window = adaptive_window(row)
                terms["adaptive"] += n_out * (numel(window) - 1 + len(window))
        elif tool == "torchscan operator FLOPs":
            terms["×2"] += row.macs
        elif tool == "fvcore":
            if kind in BATCH_NORMS:
                terms["BN×2"] += 2 * n_in
            elif kind in ADAPTIVE_AVG_POOLS:
                terms["adaptive"] += n_in
    return [(key, value) for key, value in terms.items() if value]


def thop_params(rows: list) -> list[tuple[str, int]]:
    """Parameters thop leaves out: modules it has no rule for, and modules that never ran (its count is a forward hook)."""
    missing: dict[str, int] = defaultdict(int)
    for row in rows:
        if not row.params:
            continue
        if row.output_shape is None:
            missing["never called"] -= row.params
        elif row.is_module and row.type not in THOP_RULES:
            missing[f"no rule for {row.type}"] -= row.params
    return list(missing.items())


# ------------------------------------------------------------------ printing


def print_table(header: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> None:
    """A Markdown table; the columns in ``numeric`` are right-aligned."""
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i in numeric else "---" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


TWO_PER_MAC = {("torchscan", "FLOPs"), ("torchscan", "operator FLOPs"), ("cnnstat -c flops", "FLOPs")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, help="make or reuse the throw-away environment here, and keep it")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the temporary environment is removed
    models = options.models.split(",")
    tools = options.tools.split(",")
    started = time.perf_counter()

    folder = options.venv or Path(tempfile.mkdtemp(prefix="cnnstat-compare-tools-"))
    try:
        step = time.perf_counter()
        python, pip_report = make_environment(folder)
        install_seconds = time.perf_counter() - step
        found, error = in_environment(python, ["versions"])
        results: dict[tuple[str, str], dict] = {}
        errors: dict[tuple[str, str], str] = {}
        for name in models:
            for tool in tools:
                result, error = in_environment(python, [tool, name])
                if result is None:
                    errors[tool, name] = error
                    print(f"{tool} on {name}: {error}", file=sys.stderr)
                else:
                    results[tool, name] = result
                    print(f"{tool} on {name}: {result['seconds']} s", file=sys.stderr)
        probes, probe_error = in_environment(python, ["probes"])
    finally:
        if options.venv is None:
            shutil.rmtree(folder, ignore_errors=True)
    tool_seconds = time.perf_counter() - started

    reports = {name: cnnstat_reports(name) for name in models}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()

    print(f"## Output of bench/compare_tools.py — {date.today().isoformat()}\n")
    print(f"Python {sys.version.split()[0]}; cnnstat at commit {commit}; throw-away environment: {pip_report}\n")
    where = str((found or {}).get("torch imported from", ""))
    shown = {**(found or {"versions": error})}
    if where:  # relative to the checkout, so that no machine's own paths go into the document
        shown["torch imported from"] = os.path.relpath(where, REPO) if Path(where).is_relative_to(REPO) else where
    print_table(["package", "version"], [[k, str(v)] for k, v in shown.items()])
    if not any(where.startswith(p) for p in site.getsitepackages()):
        print(f"Note: the tools ran on a torch other than the project's ({where or 'unknown'}).\n")

    # ---- the figures
    rows = []
    for name in models:
        macs = reports[name]["macs"].totals["macs"]
        params = reports[name]["macs"].totals["params"]
        for convention in CONVENTIONS:
            flops = reports[name][convention].totals["flops"]
            base = 2 if (f"cnnstat -c {convention}", "FLOPs") in TWO_PER_MAC else 1
            rows.append(
                [name, f"cnnstat -c {convention}", "FLOPs", number(params), number(flops), signed(flops - base * macs), ""]
            )
        for tool in tools:
            result = results.get((tool, name))
            if result is None:
                rows.append([name, tool, "—", "—", "—", "—", errors.get((tool, name), "not run")])
                continue
            for label, figure in result["figures"].items():
                base = 2 if (tool, label) in TWO_PER_MAC else 1
                printed = result["printed"].get(label, "")
                rows.append([name, tool, label, number(result["params"]), number(figure), signed(figure - base * macs), printed])
    print("### Figures\n")
    print("Δ is the figure minus cnnstat's MACs; for figures that count 2 per MAC (cnnstat -c flops, torchscan's FLOPs),")
    print("minus 2 × cnnstat's MACs.\n")
    print_table(["model", "tool", "figure", "params", "value", "Δ", "as the tool prints it"], rows, numeric=(3, 4, 5))

    notes = [[name, tool, "; ".join(results[tool, name].get("notes", []))] for name in models for tool in tools
             if results.get((tool, name), {}).get("notes")]  # fmt: skip
    if notes:
        print("What the tools say they left out:\n")
        print_table(["model", "tool", "notes"], notes)

    # ---- cnnstat's own conventions, by layer type
    print("### cnnstat's conventions beyond its MACs, by layer type\n")
    print("`flops`: Σ (flops − 2 × MACs) of the rows of each type (the elementwise work); "
          "`lenet`: Σ (flops − MACs) (closed forms of neuron layers, elementwise work of the rest).\n")  # fmt: skip
    table = []
    for name in models:
        for convention, factor in (("flops", 2), ("lenet", 1)):
            by_type: dict[str, int] = defaultdict(int)
            for row in reports[name][convention].layers:
                by_type[row.type] += row.flops - factor * row.macs
            spelled = " ".join(f"{v:+,} {k}" for k, v in by_type.items() if v)
            total = reports[name][convention].totals["flops"] - factor * reports[name][convention].totals["macs"]
            table.append([name, convention, signed(total), spelled])
    print_table(["model", "convention", "beyond MACs", "by layer type"], table, numeric=(2,))

    # ---- the ledgers
    print("### Ledgers: each tool's figure from cnnstat's per-layer rows, by the tool's own rule\n")
    print("figure = cnnstat MACs + the terms; 'left over' is what the terms do not explain (0: exact).\n")
    figure_of = {
        "ptflops": ("ptflops", "MACs"), "ptflops-aten": ("ptflops-aten", "MACs"), "thop": ("thop", "MACs"),
        "torchinfo": ("torchinfo", "mult-adds"), "torchscan MACs": ("torchscan", "MACs"),
        "torchscan FLOPs": ("torchscan", "FLOPs"), "torchscan operator FLOPs": ("torchscan", "operator FLOPs"),
        "fvcore": ("fvcore", "FLOPs"),
    }  # fmt: skip
    for rule, (tool, label) in figure_of.items():
        if tool not in tools:
            continue
        print(f"#### {rule}\n")
        for key, meaning in LEGENDS[rule].items():
            print(f"- **{key}**: {meaning}")
        print()
        table = []
        for name in models:
            result = results.get((tool, name))
            if result is None:
                continue
            layer_rows = reports[name]["macs"].layers
            macs = reports[name]["macs"].totals["macs"]
            terms = ledger(rule, layer_rows)
            predicted = macs + sum(v for _, v in terms)
            figure = result["figures"][label]
            spelled = " ".join(f"{v:+,} {k}" for k, v in terms) or "nothing"
            table.append([name, number(figure), number(macs), spelled, signed(figure - predicted)])
        print_table(["model", f"{rule}", "cnnstat MACs", "terms", "left over"], table, numeric=(1, 2, 4))

    # ---- parameters
    print("### Parameters\n")
    table = []
    for name in models:
        total = reports[name]["macs"].totals["params"]
        for tool in tools:
            result = results.get((tool, name))
            if result is None or result["params"] == total:
                continue
            terms = thop_params(reports[name]["macs"].layers) if tool == "thop" else []
            spelled = " ".join(f"{v:+,} ({k})" for k, v in terms) or "unexplained"
            table.append([name, tool, number(result["params"]), number(total), spelled,
                          signed(result["params"] - total - sum(v for _, v in terms))])  # fmt: skip
    if table:
        print_table(["model", "tool", "tool's params", "cnnstat params", "terms", "left over"], table, numeric=(2, 3, 5))
    else:
        print("Every tool's parameter count equals cnnstat's.\n")

    # ---- probes
    print("### Probes: one-layer models\n")
    print_table(["tool", "model", "figure", "why"], probes or [["—", "—", "failed", probe_error]])

    # ---- receptive fields
    print("### Receptive fields: torchscan's per-layer value beside cnnstat's\n")
    table = []
    for name in models:
        result = results.get(("torchscan", name))
        if result is None or name == GOOGLENET_TV:
            continue
        by_name = {row.name: row for row in reports[name]["macs"].layers if row.receptive_field}
        spatial = [(p, t, v) for p, t, v in result["receptive_field"] if p in by_name and t.endswith(("Conv2d", "Pool2d"))]
        last_conv = [entry for entry in spatial if entry[1] == "Conv2d"][-1:]
        last_pool = [entry for entry in spatial if entry[1] != "Conv2d"][-1:]
        largest = max((v for _, _, v in result["receptive_field"] if v is not None), default=None)
        for path, kind, value in last_conv + last_pool:
            ours = by_name[path].receptive_field
            table.append([name, f"{path} ({kind})", number(value), "×".join(map(str, ours)), number(largest)])
    print_table(["model", "layer", "torchscan", "cnnstat", "torchscan's largest in the model"], table, numeric=(2, 3, 4))

    total_seconds = time.perf_counter() - started
    print(f"Install {install_seconds:.0f} s; the tools' runs {tool_seconds - install_seconds:.0f} s; "
          f"total {total_seconds:.0f} s on {os.cpu_count()} CPU cores.")  # fmt: skip
    return 0 if not errors else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(worker(sys.argv[2:]))
    sys.exit(main())
