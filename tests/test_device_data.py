"""The device-resident data path and the static-shape step: batched augmentation against a per-image loop, every image
once an epoch, seeded draws, one compiled graph for a whole epoch; the CUDA parts skip without a GPU."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
from fashion_fixtures import synthetic_split, write_idx_set

from cnnstat.training.batches import epoch_batches, epoch_order
from cnnstat.training.config import TrainConfig
from cnnstat.training.data import ImageData, Split
from cnnstat.training.datasets import DATASETS
from cnnstat.training.images import SHIFT, Augmentation, Pixels, augment, draw_augmentation, prepare_batch
from cnnstat.training.planner import plan_run
from cnnstat.training.recipes import RECIPES, build_recipe
from cnnstat.training.run import compile_ahead, set_up

UNIT = Pixels((1, 28, 28))  # pixels in [0, 1]: a batch times 255 is the uint8 images again
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def per_image_reference(images: np.ndarray, drawn: Augmentation) -> np.ndarray:
    """Each image on its own, as a from-scratch loader does it: zero-pad, crop at its offsets, mirror if drawn."""
    out = np.empty_like(images)
    for index, image in enumerate(images):
        padded = np.pad(image, SHIFT)
        top, left = int(drawn.top[index]), int(drawn.left[index])
        crop = padded[top : top + image.shape[0], left : left + image.shape[1]]
        mirrored = drawn.mirrored is not None and bool(drawn.mirrored[index])
        out[index] = crop[:, ::-1] if mirrored else crop
    return out


@pytest.mark.parametrize("mirror", [True, False])
def test_batched_augmentation_equals_a_per_image_loop(mirror):
    images = torch.from_numpy(synthetic_split(256, seed=3)[0])
    drawn = draw_augmentation(len(images), torch.Generator().manual_seed(7), mirror, images.device)
    batched = augment(images.unsqueeze(1), drawn)[:, 0]
    assert torch.equal(batched, torch.from_numpy(per_image_reference(images.numpy(), drawn)))
    # prepare_batch draws the same augmentation from a generator in the same state, then scales to [0, 1]
    x = prepare_batch(images, Pixels((1, 28, 28), mirror=mirror), torch.Generator().manual_seed(7))
    assert torch.equal((x[:, 0] * 255).round().to(torch.uint8), batched)


def test_crops_and_flips_are_uniform_and_independent():
    count = 50_000
    drawn = draw_augmentation(count, torch.Generator().manual_seed(0), True, torch.device("cpu"))
    assert drawn.mirrored is not None
    cells = torch.bincount(drawn.top * 5 + drawn.left, minlength=25).double() / count  # 25 joint (top, left) cells
    sigma = math.sqrt((1 / 25) * (24 / 25) / count)
    assert cells.sub(1 / 25).abs().max() < 5 * sigma, cells  # uniform over 0…4 each way, and independent
    assert drawn.top.min() == 0 and drawn.top.max() == 2 * SHIFT
    assert abs(drawn.mirrored.double().mean().item() - 0.5) < 5 * math.sqrt(0.25 / count)
    both = (drawn.mirrored & (drawn.top == 0)).double().mean().item()  # flips independent of the crop
    assert abs(both - 0.5 / 5) < 5 * math.sqrt(0.1 * 0.9 / count)


def test_a_data_set_never_mirrored_draws_the_same_crops_and_leaves_the_generator_alike():
    mirrored, plain = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    with_flips = draw_augmentation(100, mirrored, True, torch.device("cpu"))
    without = draw_augmentation(100, plain, False, torch.device("cpu"))
    assert without.mirrored is None and torch.equal(with_flips.top, without.top) and torch.equal(with_flips.left, without.left)
    assert torch.equal(mirrored.get_state(), plain.get_state())


def numbered_split(count: int) -> Split:
    """Image i is filled with i mod 251 and labelled i: a batch shows which images it holds, and that each kept its label."""
    index = torch.arange(count)
    return Split((index % 251).to(torch.uint8)[:, None, None].expand(count, 28, 28).contiguous(), index)


@pytest.mark.parametrize("world", [1, 2])
def test_every_image_is_seen_at_most_once_an_epoch_in_whole_batches(world):
    count, batch = 1000, 64
    split = numbered_split(count)
    usable = count - count % (batch * world)
    seen = []
    for rank in range(world):
        order = epoch_order(count, usable, torch.Generator().manual_seed(11), rank, world)
        for x, y in epoch_batches(split, order, batch, UNIT, None):
            assert x.shape == (batch, 1, 28, 28)  # static shapes: one compiled graph serves the epoch
            assert torch.equal((x[:, 0, 0, 0] * 255).round().long(), y % 251)  # each image with its own label
            seen.append(y)
    labels = torch.cat(seen)
    assert len(labels) == usable and len(labels.unique()) == usable  # no image twice, across processes too
    permutation = torch.randperm(count, generator=torch.Generator().manual_seed(11))
    assert set(labels.tolist()) == set(permutation[:usable].tolist())  # the images left over are the shuffle's last


def test_a_split_smaller_than_a_batch_is_one_batch():
    split = numbered_split(40)
    batches = list(epoch_batches(split, epoch_order(40, 40, torch.Generator().manual_seed(0)), 64, UNIT, None))
    assert len(batches) == 1 and sorted(batches[0][1].tolist()) == list(range(40))


def test_the_shuffle_and_augmentation_follow_the_seed():
    images, labels = synthetic_split(512, seed=0)
    split = Split(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))
    pixels = Pixels((1, 28, 28))

    def epoch(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(seed)
        return list(epoch_batches(split, epoch_order(512, 512, generator), 128, pixels, generator))

    first, again, other = epoch(1), epoch(1), epoch(2)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0][1], other[0][1])


def small_run(tmp_path, limit: int, batch: int):
    """A CPU run set up on synthetic data: 'limit' training images, batches of 'batch'."""
    folder = tmp_path / "data"
    folder.mkdir()
    write_idx_set(folder, n_train=limit + 64, n_test=64)
    from cnnstat.training.data import load_fashion_mnist

    data = load_fashion_mnist(folder)
    config = TrainConfig("fashion-fast", "fast", build_recipe("fast", epochs=1, batch_size=batch, val=64), device="cpu", limit=limit)
    return set_up(config, ImageData(data.train, data.test, data.source, DATASETS["fashion-mnist"]), tmp_path / "run", lambda e: None)


def test_the_compiled_step_is_compiled_ahead_once_and_the_run_is_as_it_was(tmp_path):
    from torch._dynamo.utils import counters

    from cnnstat.training.loop import _train_epoch

    run = small_run(tmp_path, limit=1000, batch=128)  # 1000 is no multiple of 128: a last batch would change the shape
    assert not run.compiled  # on the CPU nothing is compiled: compiling costs more than it saves there
    run.model.train()
    before = {name: value.clone() for name, value in run.model.state_dict().items()}
    rng = torch.get_rng_state()
    # the CPU stands in for CUDA here: dynamo's tracing with its eager backend, which compiles nothing
    run.network, run.compiled = torch.compile(run.model, backend="eager", dynamic=False), True
    torch._dynamo.reset()
    seconds = compile_ahead(run, time.perf_counter)
    assert seconds is not None and seconds > 0
    after = run.model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)  # batch norm statistics put back
    assert all(p.grad is None for p in run.model.parameters()) and torch.equal(torch.get_rng_state(), rng)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1  # compile_ahead traced the step
    plan_run(run, time.perf_counter, None, lambda e: None)
    metrics, _ = _train_epoch(run, 0, lambda e: None, time.perf_counter)
    assert metrics.steps == 1000 // 128
    assert counters["stats"]["unique_graphs"] == graphs  # the epoch ran on the graph compiled ahead: no recompilation


def test_a_gpu_recipe_yields_to_the_command_line():
    assert build_recipe("fast") == RECIPES["fast"]  # off a GPU, the recipes are as measured on CPUs
    gpu = build_recipe("best", on_gpu=True, batch_size=96, lr=0.001)
    assert (gpu.batch_size, gpu.lr) == (96, 0.001) and gpu.compile_mode == "reduce-overhead"


@CUDA
def test_on_cuda_the_data_stay_on_the_device_and_augment_as_on_the_cpu():
    images = torch.from_numpy(synthetic_split(128, seed=1)[0])
    drawn = draw_augmentation(len(images), torch.Generator().manual_seed(3), True, torch.device("cpu"))
    on_gpu = Augmentation(drawn.top.cuda(), drawn.left.cuda(), drawn.mirrored.cuda() if drawn.mirrored is not None else None)
    result = augment(images.cuda().unsqueeze(1), on_gpu)
    assert result.is_cuda and torch.equal(result.cpu(), augment(images.unsqueeze(1), drawn))
    split = numbered_split(512).to(torch.device("cuda"))
    generator = torch.Generator(device="cuda").manual_seed(0)
    for x, y in epoch_batches(split, epoch_order(512, 512, generator), 128, UNIT, generator):
        assert x.is_cuda and y.is_cuda


def train_from_cli(cli, tmp_path, images: int, *options: str) -> tuple[str, dict]:
    """`cnnstat train fashion-fast OPTIONS` for one epoch on ``images`` synthetic training images: its output and metrics.json."""
    folder = tmp_path / "data"
    folder.mkdir()
    write_idx_set(folder, n_train=images, n_test=64)
    out = tmp_path / "run"
    result = cli("train", "fashion-fast", "--data", str(folder), "--out", str(out), "--epochs", "1", "--val", "64", *options)
    assert result.exit_code == 0, result.output
    return result.output, json.loads((out / "metrics.json").read_text())


@CUDA
def test_a_cuda_run_compiles_ahead_with_fused_updates_and_reports_it(cli, tmp_path):
    output, written = train_from_cli(cli, tmp_path, 2048, "--device", "cuda")
    assert written["compile_s"] > 0 and written["config"]["hyper"]["compile_mode"] == "reduce-overhead"
    assert "compiled the step" in output
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["fused"] is True


def test_the_compile_mode_is_chosen_on_the_command_line(cli, tmp_path):
    _, written = train_from_cli(cli, tmp_path, 256, "--device", "cpu", "--batch-size", "64", "--compile-mode", "off")
    assert written["config"]["hyper"]["compile"] is False and written["compile_s"] is None
    assert cli("train", "fashion-fast", "--compile-mode", "fastest").exit_code == 2
    from cnnstat.errors import CnnstatError

    with pytest.raises(CnnstatError, match="unknown compile mode 'fastest'"):
        build_recipe("fast", compile_mode="fastest")
