"""ONNX files: the exported module's params and MACs, its declared input, and unsupported operators named."""

from __future__ import annotations

import json

import onnx
import pytest
import torch
import torchvision
from onnx import TensorProto, helper
from round_trip import ROUND_TRIP, counted_from_file, source_module

import cnnstat
from cnnstat.errors import ModelLoadError
from cnnstat.zoo import resolve_model

# TorchScript's exporter is deprecated but still the one that keeps batch norms as nodes
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def export(module: torch.nn.Module, size: tuple[int, ...], path, **options) -> str:
    # TorchScript's exporter keeps batch norms as nodes (torch.export's folds them into the convolutions)
    torch.onnx.export(module.eval(), (torch.randn(1, *size),), str(path), dynamo=False, do_constant_folding=False, **options)
    return str(path)


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_an_onnx_file_counts_as_the_module_it_was_exported_from(name, tmp_path, cli):
    module, size = source_module(name)
    path = export(module, size, tmp_path / f"{name}.onnx")
    totals = counted_from_file(cli, path, module, size)
    with torch.device("meta"):
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            torch.func.functional_call(module, {k: v.to("meta") for k, v in module.state_dict().items()},
                                       (torch.zeros(1, *size),))  # fmt: skip
    assert 2 * totals["macs"] == counter.get_total_flops()
    if name == "resnet18":  # no layer counters of the zoo's own: every figure is the module's
        source = cnnstat.analyze(module, size)
        for figure in ("flops", "connections", "activation_bytes"):
            assert totals[figure] == source.totals[figure], figure
        assert cnnstat.analyze(path).receptive_field == source.receptive_field


def test_a_symbolic_dimension_needs_an_input_and_takes_one(tmp_path, cli):
    path = export(torchvision.models.resnet18(), (3, 64, 64), tmp_path / "dynamic.onnx",
                  input_names=["image"], dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}})  # fmt: skip
    refused = cli("summary", path)
    assert refused.exit_code == 1
    assert "give its shape with --input" in refused.output
    counted = json.loads(cli("flops", path, "--input", "3x96x96", "--format", "json").stdout)
    assert counted["totals"]["macs"] == cnnstat.analyze(torchvision.models.resnet18(), (3, 96, 96)).totals["macs"]


def test_an_unsupported_operator_is_named_in_one_line(tmp_path, cli):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("LpNormalization", ["r"], ["y"], axis=1)]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]))
    onnx.checker.check_model(model)
    path = tmp_path / "lp.onnx"
    onnx.save(model, path)
    result = cli("summary", str(path))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {path} uses the ONNX operator LpNormalization, which cnnstat cannot count"
    ]
    with pytest.raises(ModelLoadError):
        resolve_model(str(path))


def test_check_says_fvcore_cannot_run_on_an_onnx_file(tmp_path):
    from cnnstat.check.run import check_model

    path = export(cnnstat.get_model("lenet5"), resolve_model("lenet5").input_size, tmp_path / "lenet5.onnx")
    result = check_model(path, against=["fvcore", "torch"])
    assert "an ONNX file has no fvcore" in result.unavailable["fvcore"]
    assert "torch" not in result.unavailable
    assert not [c for c in result.comparisons if c.verdict == "MISMATCH"]


@pytest.mark.parametrize("axis", [4, -1, 0])
def test_flatten_keeps_the_shape_onnxs_shape_inference_gives(axis, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=axis), helper.make_node("Relu", ["f"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]))
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    expected = tuple(d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim)  # axis 4 = rank: (24, 1)
    onnx.save(model, tmp_path / "flatten.onnx")
    assert [layer.output_shape for layer in cnnstat.analyze(str(tmp_path / "flatten.onnx")).layers] == [expected, expected]
