"""cnnstat check: references, explanations, snapshots, exit codes; a property test over random stacks."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_counts import brute_force_conv_links, brute_force_pool_links
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnstat
from cnnstat.check import AGREES, EXPLAINED, MISMATCH, TOTAL, check_model, ledgers
from cnnstat.zoo import list_models

SNAPSHOTS = Path(__file__).parent / "snapshots"


def test_check_all_passes_and_every_snapshot_is_unchanged(cli, tmp_path):
    # a copy, so that a missing snapshot is written there (and fails below), never into the repository
    snapshots = tmp_path / "snapshots"
    shutil.copytree(SNAPSHOTS, snapshots)
    result = cli("check", "--all", "--snapshot", str(snapshots), "-f", "json")
    assert result.exit_code == 0, result.output
    documents = {document["model"]: document for document in json.loads(result.stdout)}
    assert set(documents) == set(list_models())
    for name, document in documents.items():
        assert document["ok"], name
        assert document["snapshot"]["status"] == "unchanged", (name, document["snapshot"])
        assert document["snapshot"]["new_fields"] == [], name


def _output_elements(model: nn.Module, x: torch.Tensor, kind: type[nn.Module]) -> int:
    """Output elements of every call of every module of ``kind`` in a real forward pass."""
    seen: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.numel())) for m in model.modules() if isinstance(m, kind)]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return sum(seen)


def test_each_fvcore_rule_counts_what_fvcore_leaves_out():
    """ResNet-50: each rule's count, from the real model's layers, and fvcore's own total the rules lead to."""
    import torchvision
    from fvcore.nn import FlopCountAnalysis

    result = check_model("resnet50", against=("fvcore",))
    total = next(c for c in result.comparisons if c.layer == TOTAL and c.quantity == "flops")
    real = torchvision.models.resnet50().eval()
    x = torch.randn(1, 3, 224, 224)
    analysis = FlopCountAnalysis(real, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert total.theirs == analysis.total() == 4_111_512_576
    by_hand = {
        "fvcore ignores bias": -real.fc.bias.numel(),  # the fc's; the convolutions have none
        "fvcore skips add_": -_output_elements(real, x, torchvision.models.resnet.Bottleneck),  # the residual additions
        "fvcore skips max_pool2d": -brute_force_pool_links(real.maxpool, 64, 112, 112),  # the taps off the padding
        "fvcore skips relu": -_output_elements(real, x, nn.ReLU),
    }
    assert dict(total.rules) == by_hand
    assert total.verdict == EXPLAINED and total.unexplained == 0
    assert not [c for c in result.comparisons if c.verdict == MISMATCH]


def test_json_lists_every_comparison(cli):
    document = json.loads(cli("check", "lenet5-1998", "--against", "paper", "-f", "json").output)
    assert document[0]["ok"] is True
    layers = {(c["layer"], c["quantity"]): c for c in document[0]["comparisons"]}
    assert layers[("C3", "connections")]["theirs"] == 151_600
    assert layers[("(model)", "trainable params")]["verdict"] == AGREES


def test_a_wrong_fvcore_count_is_a_mismatch_with_its_remainder_unexplained(cli, monkeypatch):
    # fvcore counts nothing for max pooling; a convention that counts one flop there must not pass as fvcore's
    rule = ledgers.FLOP_REFERENCES["fvcore"]
    wrong = replace(rule, counts=lambda op, m: rule.counts(op, m) + ("max_pool" in op.op))
    monkeypatch.setitem(ledgers.FLOP_REFERENCES, "fvcore", wrong)
    result = check_model("fashion-cnn", against=("fvcore",))
    pools = sum(row.type == "MaxPool2d" for row in result.report.layers)
    verdicts = {c.layer: (c.verdict, c.unexplained) for c in result.comparisons if c.quantity == "flops"}
    assert verdicts["pool1"] == (MISMATCH, -1)  # one flop that fvcore, run on the model, does not count
    assert verdicts[TOTAL] == (MISMATCH, -pools)
    output = cli("check", "fashion-cnn", "--against", "fvcore")
    assert output.exit_code == 1
    assert "MISMATCH" in output.output and "pool1" in output.output and "no named rule explains -1" in output.output


def test_a_mutated_model_fails_its_snapshot_with_a_diff(cli, tmp_path):
    model_file = tmp_path / "net.py"
    model_file.write_text(
        "import torch.nn as nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, KERNEL), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))\n"
        "KERNEL = 5\n"
    )
    snapshots = tmp_path / "snapshots"
    spec = f"{model_file}:build"
    first = cli("check", spec, "--input", "3x32x32", "--snapshot", str(snapshots))
    assert first.exit_code == 0, first.output
    assert "written" in first.output
    model_file.write_text(model_file.read_text().replace("KERNEL = 5", "KERNEL = 3"))
    changed = cli("check", spec, "--input", "3x32x32", "--snapshot", str(snapshots), "--against", "none")
    assert changed.exit_code == 1
    assert "layer 0: output_shape 1×8×28×28 → 1×8×30×30" in changed.output
    assert "layer 0: params 608 → 224" in changed.output
    updated = cli("check", spec, "--input", "3x32x32", "--snapshot", str(snapshots), "--against", "none", "--update-snapshot")
    assert updated.exit_code == 0 and "updated" in updated.output
    assert cli("check", spec, "--input", "3x32x32", "--snapshot", str(snapshots), "--against", "none").exit_code == 0


def test_user_model_with_ops_fvcore_cannot_count_is_not_a_failure(cli, tmp_path):
    model_file = tmp_path / "custom.py"
    model_file.write_text(
        "import torch, torch.nn as nn\n"
        "class Gate(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x * torch.sigmoid(x)\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3), Gate(), nn.MaxPool2d(2))\n"
    )
    result = cli("check", f"{model_file}:build", "--input", "3x16x16", "--against", "fvcore,torch")
    assert result.exit_code == 0, result.output
    assert "fvcore skips sigmoid" in result.output and "Not counted by the reference" in result.output


def test_a_detector_passes_against_every_reference(cli):
    """Module calls are paired by name and call number, containers never called have no FlopCounterMode figure,
    and every head output the detector uses is an output, so fvcore's trace and the backward pass keep it."""
    result = check_model("fasterrcnn_mobilenet_v3_large_320_fpn")
    assert result.ok and not {"fvcore", "torch"} & set(result.unavailable), result.summary()
    shapes = [c for c in result.comparisons if c.quantity == "output shape"]
    assert len(shapes) > 100 and all(c.verdict == AGREES for c in shapes)
    backward = next(c for c in result.comparisons if c.quantity == "backward macs" and c.layer == TOTAL)
    # MobileNet's depthwise convolutions: FlopCounterMode counts their weight gradients `groups` times over
    assert backward.verdict == EXPLAINED and [rule for rule, _ in backward.rules] == [
        "FlopCounterMode counts a grouped convolution's weight gradient `groups` times over"
    ]
    assert any(path.startswith("proposal_deltas.") for path, _ in result.report.outputs)
    # torchvision's num_params: its weights freeze the backbone's batch norm, whose parameters a real build holds
    import torchvision

    real = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None)
    norms = [m for name, m in real.named_modules() if name.startswith("backbone.") and isinstance(m, nn.BatchNorm2d)]
    params = next(c for c in result.comparisons if c.reference == "torchvision" and c.quantity == "params")
    assert params.theirs == 19_386_354 and params.ours == sum(p.numel() for p in real.parameters())
    ((rule, count),) = params.rules
    assert "freeze the backbone's batch norm" in rule and count == -sum(p.numel() for m in norms for p in m.parameters())
    assert params.verdict == EXPLAINED


def test_a_reference_that_cannot_run_is_named_not_a_traceback(cli):
    import torchvision

    with pytest.raises(RuntimeError) as raised:  # what torch says here: the words depend on the CPU's kernels
        torchvision.models.resnet18()(torch.zeros(1, 3, 32, 32, dtype=torch.bfloat16))
    result = cli("check", "resnet18", "-i", "3x32x32:bfloat16", "--against", "torch,paper")
    output = " ".join(result.output.split())  # the summary line wraps at the terminal's width
    assert result.exit_code == 0 and "Traceback" not in output
    assert f"unavailable: torch (RuntimeError: {str(raised.value).splitlines()[0][:40]}" in output
    assert "paper (none recorded for this model)" in output


def test_usage_errors(cli):
    assert cli("check").exit_code == 1
    assert "unknown reference" in cli("check", "lenet", "--against", "nosuch").output


# -- property test: random stacks -----------------------------------------------------------------


@st.composite
def stacks_with_input(draw):
    channels, size = draw(st.integers(1, 3)), draw(st.integers(8, 14))
    model = draw(_stack(channels, size))
    return model, (channels, size, size)


def _stack(channels: int, size: int):
    @st.composite
    def build(draw):
        c, s = channels, size
        layers = []
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["conv", "maxpool", "avgpool", "bn", "act"]))
            if kind == "conv":
                groups = draw(st.sampled_from([g for g in (1, 2) if c % g == 0]))
                out = groups * draw(st.integers(1, 3))
                kernel, stride, dilation = draw(st.integers(1, 4)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
                padding = draw(st.integers(0, 2))
                if dilation * (kernel - 1) + 1 > s + 2 * padding:
                    continue
                layers.append(nn.Conv2d(c, out, kernel, stride, padding, dilation, groups, bias=draw(st.booleans())))
                s, c = (s + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1, out
            elif kind in ("maxpool", "avgpool"):
                kernel = draw(st.integers(1, 3))
                stride, padding, ceil = draw(st.integers(1, 2)), draw(st.integers(0, kernel // 2)), draw(st.booleans())
                if kernel > s + 2 * padding:
                    continue
                pool = (nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d)(kernel, stride, padding, ceil_mode=ceil)
                layers.append(pool)
                s = pool(torch.zeros(1, 1, s, s)).shape[-1]
            elif kind == "bn":
                layers.append(nn.BatchNorm2d(c, affine=draw(st.booleans())))
            else:
                layers.append(draw(st.sampled_from([nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.Hardswish]))())
        layers += [nn.Flatten(), nn.Linear(c * s * s, draw(st.integers(1, 5)))]
        return nn.Sequential(*layers).eval()

    return build()


def _brute_force_links(model: nn.Sequential, input_shape: tuple[int, ...]) -> list[int]:
    """Per-layer links by enumeration, walking a real forward pass for each layer's input size."""
    links, x = [], torch.zeros(1, *input_shape)
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            links.append(brute_force_conv_links(layer, x.shape[2], x.shape[3]))
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            links.append(brute_force_pool_links(layer, x.shape[1], x.shape[2], x.shape[3]))
        elif isinstance(layer, nn.Linear):
            links.append((layer.in_features + 1) * layer.out_features)
        else:
            links.append(0)
        x = layer(x)
    return links


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks_with_input())
def test_random_stacks_agree_with_every_reference(stack_and_input):
    from fvcore.nn import FlopCountAnalysis

    model, input_shape = stack_and_input
    x = torch.randn(1, *input_shape)
    report = cnnstat.analyze(model, input_shape)
    # shapes: torch's own forward pass
    expected, h = [], x
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            expected.append(tuple(h.shape))
    assert [layer.output_shape for layer in report.layers] == expected
    # MACs: FlopCounterMode / 2
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    assert 2 * report.totals["macs"] == counter.get_total_flops()
    # fvcore convention: fvcore itself, per module
    analysis = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert report.with_convention("fvcore").totals["flops"] == analysis.total()
    by_module = analysis.by_module()
    for layer in report.with_convention("fvcore").layers:
        assert layer.flops == by_module[layer.module], layer.name
    # connections: brute-force enumeration
    assert [layer.connections for layer in report.layers] == _brute_force_links(model, input_shape)


def test_torchvision_gflops_not_comparable_are_said_to_be(cli):
    at_other_input = " ".join(cli("check", "resnet18", "--against", "torchvision", "-i", "3x64x64").output.split())
    assert "torchvision GFLOPS (its 1.814 GFLOPS are for 1×3×224×224, not this input)" in at_other_input
    unpublished = " ".join(cli("check", "raft_small", "--against", "torchvision").output.split())
    assert "its 47.655 GFLOPS are for an input it does not publish" in unpublished
    assert "unavailable" not in cli("check", "resnet18", "--against", "torchvision").output
