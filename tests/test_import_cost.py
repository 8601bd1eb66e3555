"""What counting a zoo classic imports: torchvision's builder file only, and never torch._dynamo.

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


@pytest.mark.parametrize("name", ["resnet50", "googlenet", "alexnet", "vgg16"])
def test_counting_a_classic_leaves_torchvision_and_dynamo_unimported(name):
    seen = run_fresh(f"""
        import json, sys
        import cnnstat
        report = cnnstat.analyze({name!r})
        print(json.dumps({{
            "macs": report.totals["macs"],
            "loaded": sorted(m for m in sys.modules if m == "torchvision" or m.startswith(("torchvision.", "torch._dynamo"))),
        }}))
    """)
    from cnnstat.zoo import get_entry, torchvision_figures

    assert seen["loaded"] == []
    assert f"{seen['macs'] / 1e9:.3f}" == torchvision_figures(get_entry(name).torchvision_name).gflops.printed


def test_torchvision_imported_afterwards_is_whole():
    """The standalone builder file leaves nothing behind: torchvision's own import, C ops included, still works."""
    seen = run_fresh("""
        import json, sys
        import torch
        import cnnstat
        from cnnstat.fast_start import fast_start
        from cnnstat.zoo import resolve_model
        with fast_start():
            meta_model = resolve_model("resnet50").module
        import torchvision
        from torchvision.ops import nms
        kept = nms(torch.tensor([[0., 0, 2, 2], [0, 0, 2, 2.1]]), torch.tensor([0.9, 0.8]), 0.5).tolist()
        real = torchvision.models.resnet50(weights=None)
        print(json.dumps({
            "kept": kept,
            "same_layers": [(n, tuple(p.shape)) for n, p in meta_model.named_parameters()]
                == [(n, tuple(p.shape)) for n, p in real.named_parameters()],
            "same_modules": [(n, type(m).__name__) for n, m in meta_model.named_modules()]
                == [(n, type(m).__name__) for n, m in real.named_modules()],
        }))
    """)
    assert seen == {"kept": [0], "same_layers": True, "same_modules": True}


def test_dynamo_wrappers_get_their_own_cache_back():
    """Inside the block torch's wrappers skip the dynamo import; afterwards none keeps cnnstat's entry."""
    seen = run_fresh("""
        import json, sys
        import torch
        from cnnstat.fast_start import _unseeded_wrapped_functions, _wrapper_code, dynamo_left_unloaded
        code = _wrapper_code()
        with dynamo_left_unloaded():
            torch.nn.Linear(3, 4, device="meta")(torch.empty(2, 3, device="meta")).sum()
            inside = "torch._dynamo" in sys.modules
            unseeded_inside = len(_unseeded_wrapped_functions(code))
        unseeded_after = len(_unseeded_wrapped_functions(code))
        torch.nn.Linear(3, 4, device="meta")(torch.empty(2, 3, device="meta"))
        print(json.dumps({"inside": inside, "unseeded_inside": unseeded_inside, "unseeded_after": unseeded_after,
                          "after": "torch._dynamo" in sys.modules}))
    """)
    assert seen["inside"] is False
    assert seen["unseeded_inside"] == 0
    assert seen["unseeded_after"] > 100  # every wrapper is back to caching its own disabled version
    assert seen["after"] is True  # and outside the block torch imports dynamo as it always does


def test_builder_falls_back_to_the_ordinary_import():
    """A failed standalone load leaves no torchvision module behind; outside the block the import is ordinary."""
    seen = run_fresh("""
        import json, sys
        from cnnstat import fast_start as builders
        loaded = lambda: sorted(m for m in sys.modules if m == "torchvision" or m.startswith("torchvision."))
        with builders.fast_start():
            failed = builders._load_standalone("no_such_architecture", "build")
        after_failure = loaded()
        builder = builders.torchvision_builder("resnet", "resnet50")
        import torchvision.models.resnet
        print(json.dumps({"failed": failed, "after_failure": after_failure,
                          "ordinary": builder is torchvision.models.resnet.resnet50,
                          "whole": "torchvision.ops" in sys.modules}))
    """)
    assert seen == {"failed": None, "after_failure": [], "ordinary": True, "whole": True}


def test_models_cnnstat_hands_out_are_torchvisions_own_and_pickle():
    """get_model and resolve_model build from torchvision's real classes, even after a fast count in the same process."""
    seen = run_fresh("""
        import json, pickle
        import cnnstat
        from cnnstat.zoo import resolve_model
        cnnstat.analyze("resnet50")  # takes the standalone path inside fast_start
        model = cnnstat.get_model("resnet50")
        meta_model = resolve_model("googlenet").module
        import torchvision
        print(json.dumps({
            "resnet": isinstance(model, torchvision.models.ResNet),
            "googlenet": isinstance(meta_model, torchvision.models.GoogLeNet),
            "pickles": len(pickle.dumps(model)) > 100_000_000,
        }))
    """)
    assert seen == {"resnet": True, "googlenet": True, "pickles": True}


def test_analyze_loads_no_training_benchmark_or_check_module():
    seen = run_fresh("""
        import json, sys
        import cnnstat
        cnnstat.analyze("resnet50")
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(("cnnstat.training", "cnnstat.benchmark", "cnnstat.check", "cnnstat.cli")))))
    """)
    assert seen == []
