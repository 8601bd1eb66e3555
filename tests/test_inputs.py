"""--input strings and the Python API's sizes: any rank, dtypes, keywords, fitted to the model's own input."""

import re

import pytest

from cnnstat.counting.inputs import InputSpec, fit_to_defaults, parse_input, specs_from_sizes
from cnnstat.counting.records import format_shape
from cnnstat.errors import InputShapeError


@pytest.mark.parametrize(
    "text, spec",
    [
        ("3x224x224", InputSpec((3, 224, 224))),
        ("28x28", InputSpec((28, 28))),
        ("1X32X32", InputSpec((1, 32, 32))),
        ("3×32×32", InputSpec((3, 32, 32))),
        ("2x16000", InputSpec((2, 16000))),
        ("3x16x112x112", InputSpec((3, 16, 112, 112))),
        ("128:int64", InputSpec((128,), "int64")),
        ("3x224x224:bfloat16", InputSpec((3, 224, 224), "bfloat16")),
        ("flow=2x64x64", InputSpec((2, 64, 64), None, "flow")),
        ("ids=16:int32", InputSpec((16,), "int32", "ids")),
    ],
)
def test_parse_input_takes_any_rank_dtype_and_keyword(text, spec):
    assert parse_input(text) == spec


@pytest.mark.parametrize("text", ["", "3x", "ax3x3", "3x0x4", "-3x4x4", "0x0x0", "3x-1x5", "3x3:", "1=3x3", "x y=3"])
def test_parse_input_rejects_malformed(text):
    with pytest.raises(InputShapeError, match="--input"):
        parse_input(text)


def test_unknown_dtype_and_huge_sizes_are_refused():
    with pytest.raises(InputShapeError, match="unknown dtype 'int65'"):
        parse_input("3x3:int65")
    with pytest.raises(InputShapeError, match="over the limit"):
        parse_input("100000x100000x100000")


def test_a_shape_one_dimension_short_keeps_the_models_channels():
    lenet = [InputSpec((1, 32, 32), "float32")]
    assert fit_to_defaults([InputSpec((28, 28))], lenet) == [InputSpec((1, 28, 28), "float32")]
    assert fit_to_defaults([InputSpec((3, 28, 28))], lenet) == [InputSpec((3, 28, 28), "float32")]
    assert fit_to_defaults([InputSpec((28, 28))], None) == [InputSpec((28, 28))]


def test_python_sizes_one_many_and_keyword():
    assert specs_from_sizes((3, 224, 224)) == [InputSpec((3, 224, 224))]
    assert specs_from_sizes([(3, 8, 8), (1, 4, 4)], dtypes=["float32", "int64"]) == [
        InputSpec((3, 8, 8), "float32"), InputSpec((1, 4, 4), "int64"),
    ]  # fmt: skip
    assert specs_from_sizes({"y": (4,)}) == [InputSpec((4,), None, "y")]
    with pytest.raises(InputShapeError, match="2 dtypes for 1 inputs"):
        specs_from_sizes((3, 4), dtypes=["float32", "int64"])


def test_format_shape():
    assert format_shape((1, 3, 224, 224)) == "1×3×224×224"
    assert format_shape(None) == "—"


SUGGESTED = """
import torch.nn as nn
lstm = nn.LSTM(28, 64)
gru = nn.GRU(10, 20, batch_first=True)
audio = nn.Sequential(nn.Conv1d(4, 8, 3), nn.ReLU())
video = nn.Conv3d(3, 4, 3)
head = nn.Sequential(nn.Linear(12, 3))
tokens = nn.Embedding(100, 8)
"""


@pytest.mark.parametrize("name", ["lstm", "gru", "audio", "video", "head", "tokens"])
def test_a_model_without_default_input_is_told_an_input_that_fits_it(cli, tmp_path, name):
    path = tmp_path / "layers.py"
    path.write_text(SUGGESTED)
    refused = cli("summary", f"{path}:{name}")
    assert refused.exit_code == 1 and "has no default input" in refused.output
    suggested = re.search(r"--input (\S+) \(", refused.output).group(1)
    assert cli("summary", f"{path}:{name}", "--input", suggested).exit_code == 0
