"""Test-time views and averaged evaluation, against pixel loops and plain forward passes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnstat.devices import select_device
from cnnstat.training.data import Split
from cnnstat.training.evaluation import TTA_VIEWS, evaluate
from cnnstat.training.images import Pixels, View, prepare_batch

EVERY_VIEW = TTA_VIEWS["mirror+shift"]


def _moved_by_loops(image: torch.Tensor, view: View) -> torch.Tensor:
    """The view of one image, pixel by pixel: out[r][c] = in[r - down][mirrored c - right], background where that is off."""
    height, width = image.shape
    out = torch.zeros_like(image)
    for row in range(height):
        for col in range(width):
            source_row, source_col = row - view.down, col - view.right
            if 0 <= source_row < height and 0 <= source_col < width:
                out[row, col] = image[source_row, width - 1 - source_col if view.mirrored else source_col]
    return out


@pytest.mark.parametrize("view", EVERY_VIEW + (View(right=2, down=-3),), ids=repr)
def test_a_view_moves_and_mirrors_every_pixel_as_a_loop_does(view):
    images = torch.randint(1, 256, (3, 5, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    expected = torch.stack([_moved_by_loops(image, view) for image in images])
    assert torch.equal(view.apply(images), expected)


def test_the_averaging_views_are_distinct_and_include_the_image_itself():
    for mode, views in TTA_VIEWS.items():
        assert views[0] == View() and len(set(views)) == len(views), mode
    assert len(TTA_VIEWS["mirror+shift"]) == 10 and set(TTA_VIEWS["mirror"]) | set(TTA_VIEWS["shift"]) < set(EVERY_VIEW)


@pytest.mark.parametrize("mode", list(TTA_VIEWS))
def test_evaluation_averages_the_class_probabilities_of_its_views(mode):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 12)).eval()  # 12 outputs
    images = torch.randint(0, 256, (37, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (37,))
    pixels = Pixels((1, 28, 28), 2.0, -0.5)
    result = evaluate(model, Split(images, labels), pixels, select_device("cpu"), batch_size=10, views=TTA_VIEWS[mode])
    with torch.no_grad():  # the mean of each view's softmax over the first ten outputs, image by image
        probabilities = torch.stack(
            [model(prepare_batch(view.apply(images), pixels, None))[:, :10].softmax(1) for view in TTA_VIEWS[mode]]
        ).mean(0)
    torch.testing.assert_close(result.log_probs.exp(), probabilities)
    assert torch.equal(result.predictions, probabilities.argmax(1))
    assert result.accuracy == pytest.approx((probabilities.argmax(1) == labels).float().mean().item())
    assert result.loss == pytest.approx(-probabilities[torch.arange(37), labels].log().mean().item(), rel=1e-5)
    assert result.confusion.sum() == 37 and result.confusion.diagonal().sum() == (probabilities.argmax(1) == labels).sum()
