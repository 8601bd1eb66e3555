import pytest

from cnnstat.errors import InputShapeError
from cnnstat.shapes import format_shape, parse_input


@pytest.mark.parametrize(
    "text, shape",
    [("3x224x224", (3, 224, 224)), ("28x28", (1, 28, 28)), ("1X32X32", (1, 32, 32)), ("3×32×32", (3, 32, 32))],
)
def test_parse_input_accepts_chw_and_hw(text, shape):
    assert parse_input(text) == shape


@pytest.mark.parametrize("text", ["", "3x", "ax3x3", "3x0x4", "1x2x3x4", "-3x4x4", "32"])
def test_parse_input_rejects_malformed(text):
    with pytest.raises(InputShapeError, match="expected CxHxW"):
        parse_input(text)


def test_format_shape():
    assert format_shape((1, 3, 224, 224)) == "1×3×224×224"
    assert format_shape(None) == ""
