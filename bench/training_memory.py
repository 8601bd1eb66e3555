"""cnnstat's training-memory estimate beside what a real float32 training step allocates on a CUDA GPU.

For each model: cnnstat's ``activation_bytes`` (counted on meta) against the growth of
``torch.cuda.memory_allocated`` over a real forward pass in training mode (what autograd keeps, plus the
output), and cnnstat's ``training_bytes`` (parameters, gradients, Adam's two moments, activations)
against ``torch.cuda.max_memory_allocated`` over a whole step, once the optimizer's state exists. The
peak also holds what the estimate leaves out on purpose: cuDNN's workspaces and the backward pass's
temporaries, so it should be the larger.

Run: python bench/training_memory.py [--batch 32] [--models resnet18,resnet50,vgg11,mobilenet_v2]
"""

from __future__ import annotations

import argparse
import sys

import torch

import cnnstat

MIB = 2**20


def measured(model_name: str, batch: int, device: torch.device) -> tuple[int, int]:
    """(bytes allocated over a forward pass in training mode, peak bytes of a whole Adam step), on ``device``."""
    torch.manual_seed(0)
    model = cnnstat.get_model(model_name).to(device).train()
    optimizer = torch.optim.Adam(model.parameters())
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step() -> None:
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # creates Adam's state and warms cuDNN up
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)  # parameters, Adam's state, the batch
    torch.cuda.reset_peak_memory_stats(device)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    torch.cuda.synchronize(device)
    forward = torch.cuda.memory_allocated(device) - before
    loss.backward()
    optimizer.step()
    torch.cuda.synchronize(device)
    return forward, torch.cuda.max_memory_allocated(device) - x.nbytes - y.nbytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--models", default="resnet18,resnet50,vgg11,mobilenet_v2")
    options = parser.parse_args()
    if not torch.cuda.is_available():
        print("needs a CUDA GPU: on the CPU, tests/test_training_figures.py checks activation_bytes against a real step")
        return 1
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = False
    print(f"{torch.cuda.get_device_name(device)}; torch {torch.__version__}; float32; batch {options.batch}; Adam")
    header = f"{'model':14} {'activations: cnnstat':>21} {'forward':>9} {'ratio':>6}   {'training: cnnstat':>18} {'peak':>9} {'ratio':>6}"
    print(header)
    for name in options.models.split(","):
        report = cnnstat.analyze(name, input_size=(3, 224, 224), batch=options.batch, optimizer="adam", train=True)
        activations, training = report.totals["activation_bytes"], report.totals["training_bytes"]
        forward, peak = measured(name, options.batch, device)
        print(f"{name:14} {activations / MIB:17,.1f} MiB {forward / MIB:9,.1f} {activations / forward:6.3f}   "
              f"{training / MIB:14,.1f} MiB {peak / MIB:9,.1f} {training / peak:6.3f}", flush=True)  # fmt: skip
        torch.cuda.empty_cache()
    print("forward: growth of memory_allocated over a forward pass in training mode (saved tensors and the output);")
    print("peak: max_memory_allocated over a whole step (parameters, Adam state, activations, gradients, workspaces)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
