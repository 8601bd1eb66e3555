"""What counting imports: through the command, torchvision's builder file only and never torch._dynamo; through the
library, torch and torchvision as they are, with nothing of the command's shortcut.

These run in fresh interpreters, because the test session itself has long imported both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


def run_fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON object as its last line."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_command(*args: str, before: str = "") -> dict:
    """Run the ``cnnstat`` command in a new interpreter, as its console script does, after ``before``.

    Returns its stdout and what the process had imported, and whether torch's wrappers kept a seed, once it ended.
    """
    return run_fresh(f"""
        import contextlib, gc, io, json, sys, types
        exec({textwrap.dedent(before)!r})
        from cnnstat.cli import main
        sys.argv = ["cnnstat", *{list(args)!r}]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                main()
            except SystemExit as exiting:
                code = exiting.code
        seeded = [f for f in gc.get_objects() if type(f) is types.FunctionType and getattr(f, "__dynamo_disable", None) is f]
        print(json.dumps({{
            "code": code, "stdout": out.getvalue(), "seeded": len(seeded),
            "loaded": sorted(m for m in sys.modules if m == "torchvision" or m.startswith(("torchvision.", "torch._dynamo"))),
        }}))
    """)


@pytest.mark.parametrize("name", ["resnet50", "googlenet", "alexnet", "vgg16"])
def test_the_command_counts_a_classic_without_torchvision_or_dynamo(name):
    seen = run_command("flops", name, "--format", "json")
    from cnnstat.zoo import get_entry, torchvision_figures

    assert seen["code"] == 0
    assert seen["loaded"] == []
    assert seen["seeded"] == 0  # the shortcut took back what it wrote into torch's wrappers
    macs = json.loads(seen["stdout"])["totals"]["macs"]
    assert f"{macs / 1e9:.3f}" == torchvision_figures(get_entry(name).torchvision_name).gflops.printed


# torch changing what the shortcut reads: a wrapper laid out differently (its closure variable is not `fn`), or none
WITHOUT_PRIVATE_NAMES = {
    "other wrapper": """
        import functools, torch
        def other_disable(function=None, recursive=True):
            if function is None:
                return functools.partial(other_disable, recursive=recursive)
            @functools.wraps(function)
            def wrapper(*args, **kwargs):
                import torch._dynamo
                return torch._dynamo.disable(function, recursive)(*args, **kwargs)
            return wrapper
        torch._disable_dynamo = other_disable
    """,
    "no wrapper": "import torch; torch._disable_dynamo = lambda fn=None, recursive=True: fn",
}


@pytest.mark.parametrize("change", sorted(WITHOUT_PRIVATE_NAMES))
def test_the_shortcut_falls_back_to_plain_imports_with_the_same_figures(change):
    """Where torch's private names are not what the shortcut reads, dynamo is imported as usual, and nothing else changes."""
    fast = run_command("summary", "resnet50", "--format", "json")
    plain = run_command("summary", "resnet50", "--format", "json", before=WITHOUT_PRIVATE_NAMES[change])
    assert plain["code"] == fast["code"] == 0
    assert "torch._dynamo" in plain["loaded"] and "torch._dynamo" not in fast["loaded"]  # nothing seeded: the plain path
    assert json.loads(plain["stdout"]) == json.loads(fast["stdout"])


def test_the_library_scans_no_heap_and_writes_no_private_attribute():
    """cnnstat.analyze and list_models, called from a program: ordinary imports, torch's wrappers left alone."""
    seen = run_fresh("""
        import gc, json, sys, types
        import cnnstat

        def refuse():
            raise AssertionError("the heap was scanned")

        scan, gc.get_objects = gc.get_objects, refuse
        macs = cnnstat.analyze("resnet50").totals["macs"]
        names = cnnstat.list_models("res*")
        gc.get_objects = scan
        seeded = [f for f in gc.get_objects() if type(f) is types.FunctionType and getattr(f, "__dynamo_disable", None) is f]
        import torchvision
        print(json.dumps({"macs": macs, "names": names, "seeded": len(seeded), "whole": "torchvision.ops" in sys.modules,
                          "resnet": isinstance(cnnstat.get_model("resnet50"), torchvision.models.ResNet)}))
    """)
    assert seen == {"macs": 4_089_184_256, "names": ["resnet50", "resnet50-2015"], "seeded": 0, "whole": True, "resnet": True}


def test_builder_falls_back_to_the_ordinary_import():
    """A failed standalone load leaves no torchvision module behind; outside the command the import is ordinary."""
    seen = run_fresh("""
        import json, sys
        from cnnstat import fast_start as builders
        loaded = lambda: sorted(m for m in sys.modules if m == "torchvision" or m.startswith("torchvision."))
        failed = builders._load_standalone("no_such_architecture", "build")
        after_failure = loaded()
        builder = builders.torchvision_builder("resnet", "resnet50")
        import torchvision.models.resnet
        print(json.dumps({"failed": failed, "after_failure": after_failure,
                          "ordinary": builder is torchvision.models.resnet.resnet50,
                          "whole": "torchvision.ops" in sys.modules}))
    """)
    assert seen == {"failed": None, "after_failure": [], "ordinary": True, "whole": True}


def test_analyze_beside_a_thread_importing_torchvision_leaves_the_process_as_it_was():
    """sys.path, nn.Module and sys.modules (but for real modules newly imported) are as they were."""
    seen = run_fresh("""
        import importlib.util, json, sys, threading
        import torch
        import cnnstat
        path, modules = list(sys.path), dict(sys.modules)
        attributes = {name: id(value) for name, value in vars(torch.nn.Module).items()}
        results = {}
        counting = threading.Thread(target=lambda: results.update(connections=cnnstat.analyze("lenet5").totals["connections"]))
        importing = threading.Thread(target=lambda: results.update(ops=__import__("torchvision.ops").ops.nms.__name__))
        counting.start(); importing.start(); counting.join(); importing.join()
        changed = [name for name, module in modules.items() if sys.modules.get(name) is not module]
        # not real: a user's file kept under cnnstat's name, or a Python file's module whose code never ran (a stand-in)
        def unreal(name):
            spec = getattr(sys.modules[name], "__spec__", None)
            never_ran = spec is not None and str(spec.origin).endswith(".py") and "__builtins__" not in vars(sys.modules[name])
            return name.startswith("cnnstat_user") or never_ran
        unreal = sorted(filter(unreal, set(sys.modules) - set(modules)))
        print(json.dumps({**results, "path": sys.path == path, "changed": changed, "unreal": unreal,
                          "module": {name: id(value) for name, value in vars(torch.nn.Module).items()} == attributes,
                          "whole": "ops" in vars(sys.modules["torchvision"])}))
    """)
    assert seen == {"connections": 430918, "ops": "nms", "path": True, "changed": [], "unreal": [], "module": True, "whole": True}


def test_analyze_loads_no_training_benchmark_or_check_module():
    seen = run_fresh("""
        import json, sys
        import cnnstat
        cnnstat.analyze("resnet50")
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(("cnnstat.training", "cnnstat.benchmark", "cnnstat.check", "cnnstat.cli")))))
    """)
    assert seen == []
