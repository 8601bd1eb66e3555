"""timm's models by name: built on meta without weights, counted as torch's FlopCounterMode counts them on meta."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

import cnnstat
from cnnstat.zoo import resolve_model

# one of each family: a convnet, a vision transformer, a hybrid (convolutions then attention), an MLP-mixer
FAMILIES = ["resnet18", "vit_tiny_patch16_224", "levit_128s", "mixer_s32_224"]


def flop_counter_total(name: str, size: tuple[int, ...]) -> int:
    """FlopCounterMode's total for timm's own model on meta, built by timm alone."""
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *size, device="meta"))
    return counter.get_total_flops()


@pytest.mark.parametrize("name", FAMILIES)
def test_timm_models_count_as_flop_counter_mode_on_meta(name):
    report = cnnstat.analyze(f"timm:{name}")
    size = timm.get_pretrained_cfg(name).input_size
    assert report.input_shape == (1, *size)  # the pretrained configuration's input, not a guess
    # FlopCounterMode counts two FLOPs per multiply-accumulate of the matrix products and convolutions
    assert 2 * report.totals["macs"] == flop_counter_total(name, size)
    with torch.device("meta"):
        params = sum(p.numel() for p in timm.create_model(name, pretrained=False).parameters())
    assert report.totals["params"] == params


def test_timm_resnet50_is_torchvisions_resnet50(cli):
    """Both are ResNet-50 v1.5 (stride on the 3x3 convolution): the same parameters, MACs and receptive field."""
    ours = json.loads(cli("flops", "timm:resnet50", "--format", "json").stdout)
    theirs = json.loads(cli("flops", "resnet50", "--format", "json").stdout)
    for figure in ("params", "macs", "flops", "connections"):
        assert ours["totals"][figure] == theirs["totals"][figure], figure
    assert ours["totals"]["macs"] == 4_089_184_256


def test_a_tagged_name_takes_that_tags_input_and_builds_no_weights():
    resolved = resolve_model("timm/resnet50.a1_in1k")
    assert resolved.input_size == tuple(timm.get_pretrained_cfg("resnet50.a1_in1k").input_size)
    assert all(p.device.type == "meta" for p in resolved.module.parameters())


def test_models_lists_timm_names_by_pattern(cli):
    result = cli("models", "timm:convnext_at*", "--format", "json")
    assert result.exit_code == 0, result.output
    names = [row["name"] for row in json.loads(result.stdout)]
    assert names == [f"timm:{n}" for n in timm.list_models("convnext_at*")]
    assert cnnstat.list_models("convnext_at*", sources=["timm"]) == names


def test_listing_says_which_model_it_builds_of_how_many():
    from cnnstat.zoo.listing import model_rows

    heard: list[str] = []
    rows = model_rows("timm:convnext_at*", progress=heard.append)
    names = [f"timm:{n}" for n in timm.list_models("convnext_at*")]
    assert [row["name"] for row in rows] == names
    assert heard == [f"building {name} to count its parameters ({i}/{len(names)})…" for i, name in enumerate(names, 1)]
    assert [row["params"] for row in rows] == [sum(p.numel() for p in timm.create_model(n).parameters())
                                               for n in timm.list_models("convnext_at*")]  # fmt: skip


def test_an_unknown_timm_name_is_one_line_with_suggestions(cli):
    result = cli("summary", "timm:convnxt_tiny")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: timm has no model 'convnxt_tiny'; did you mean timm:convnext_tiny, timm:convnextv2_tiny, timm:convit_tiny?"
    ]


def test_without_timm_one_line_says_how_to_get_it():
    code = (
        "import sys; sys.modules['timm'] = None\n"
        "from typer.testing import CliRunner\nfrom cnnstat.cli import app\n"
        "result = CliRunner().invoke(app, ['flops', 'timm:resnet50'])\n"
        "print(result.exit_code); print(result.output)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[:2] == ["1", "error: timm is not installed: pip install 'cnnstat[timm]'"]
