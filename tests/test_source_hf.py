"""Hugging Face vision models from the configs in tests/data/hf: built without weights, counted as FlopCounterMode counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

import cnnstat
from cnnstat.errors import ModelLoadError
from cnnstat.zoo import resolve_model

DATA = Path(__file__).parent / "data" / "hf"


def transformers_own(folder: Path, size: tuple[int, ...]) -> tuple[int, int]:
    """Parameters and FlopCounterMode's total of the model transformers builds from the config, on meta."""
    config = transformers.AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        model = transformers.AutoModelForImageClassification.from_config(config).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *size, device="meta"))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops()


@pytest.mark.parametrize(
    ("folder", "size"),
    [
        ("resnet", (3, 224, 224)),  # the image processor's crop (preprocessor_config.json)
        ("convnext", (3, 160, 160)),  # the image processor's shortest edge
        ("vit", (3, 64, 64)),  # no image processor: the config's image_size and num_channels
    ],
)
def test_a_config_counts_as_transformers_model_does(folder, size, cli):
    result = cli("flops", f"hf:{DATA / folder}", "--format", "json")
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    assert tuple(ours["input"]) == (1, *size)
    params, flops = transformers_own(DATA / folder, size)
    assert ours["totals"]["params"] == params
    assert 2 * ours["totals"]["macs"] == flops


def test_a_config_file_is_read_as_its_folder_is():
    by_file = cnnstat.analyze(f"hf:{DATA / 'vit' / 'config.json'}")
    by_folder = cnnstat.analyze(f"hf:{DATA / 'vit'}")
    assert (by_file.totals, by_file.input_shape) == (by_folder.totals, by_folder.input_shape)


def test_nothing_is_built_with_weights():
    resolved = resolve_model(f"hf:{DATA / 'convnext'}")
    assert all(p.device.type == "meta" for p in resolved.module.parameters())


def test_a_missing_config_is_one_line(tmp_path, cli):
    result = cli("summary", f"hf:{tmp_path / 'config.json'}")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: no such file or folder: {tmp_path / 'config.json'}"]
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    with pytest.raises(ModelLoadError) as raised:
        resolve_model(f"hf:{tmp_path / 'config.json'}")
    assert str(raised.value) == f"{tmp_path / 'config.json'} names no model_type"  # not wrapped in "cannot read ..."
