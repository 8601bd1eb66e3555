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
Each tool's run and rule live in ``bench/peers/`` (one module per tool, its rule as small tables of
terms); this script makes the environment, runs them and prints. The test suite does not run it.
It takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
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

from peers import PEERS, PIP_PACKAGES, PROBES

REPO = Path(__file__).resolve().parents[1]
TOOLS = tuple(PEERS)
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
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    shape = input_shape(name)
    return PEERS[tool].run(build(name), shape, torch.rand(1, *shape))


def run_probes() -> list[list[str]]:
    """One-layer models that isolate a rule; each row: tool, model, figure, what it shows."""
    import warnings

    warnings.filterwarnings("ignore")
    rows = []
    for probes in PROBES:
        try:
            rows += probes()
        except Exception as error:  # a probe that fails is reported, not fatal
            rows.append([probes.__module__.rpartition(".")[2], "probes", "failed", repr(error)])
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


# ------------------------------------------------------------------ printing


def print_table(header: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> None:
    """A Markdown table; the columns in ``numeric`` are right-aligned."""
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i in numeric else "---" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def per_mac(tool: str, label: str) -> int:
    """2 for the figures that count 2 per MAC (cnnstat -c flops, torchscan's FLOPs), else 1."""
    if tool.startswith("cnnstat -c "):
        return 2 if tool == "cnnstat -c flops" else 1
    return 2 if label in PEERS[tool].two_per_mac else 1


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
            base = per_mac(f"cnnstat -c {convention}", "FLOPs")
            rows.append(
                [name, f"cnnstat -c {convention}", "FLOPs", number(params), number(flops), signed(flops - base * macs), ""]
            )
        for tool in tools:
            result = results.get((tool, name))
            if result is None:
                rows.append([name, tool, "—", "—", "—", "—", errors.get((tool, name), "not run")])
                continue
            for label, figure in result["figures"].items():
                base = per_mac(tool, label)
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
    for tool in tools:
        for ledger in PEERS[tool].ledgers:
            print(f"#### {ledger.name}\n")
            for key, meaning in ledger.meanings().items():
                print(f"- **{key}**: {meaning}")
            print()
            table = []
            for name in models:
                result = results.get((tool, name))
                if result is None:
                    continue
                macs = reports[name]["macs"].totals["macs"]
                terms = ledger.count(reports[name]["macs"].layers)
                predicted = macs + sum(v for _, v in terms)
                figure = result["figures"][ledger.figure]
                spelled = " ".join(f"{v:+,} {k}" for k, v in terms) or "nothing"
                table.append([name, number(figure), number(macs), spelled, signed(figure - predicted)])
            print_table(["model", ledger.name, "cnnstat MACs", "terms", "left over"], table, numeric=(1, 2, 4))

    # ---- parameters
    print("### Parameters\n")
    table = []
    for name in models:
        total = reports[name]["macs"].totals["params"]
        for tool in tools:
            result = results.get((tool, name))
            if result is None or result["params"] == total:
                continue
            left_out = PEERS[tool].params_terms
            terms = left_out(reports[name]["macs"].layers) if left_out else []
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
