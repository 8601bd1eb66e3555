"""A torchrun job: this process's place in it, and what its processes share so that every one trains the same steps."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from .budget import Pace


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job (world 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @staticmethod
    def from_env() -> Distributed:
        return Distributed(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )

    @property
    def main(self) -> bool:
        return self.rank == 0


def join(dist: Distributed, device: str) -> None:
    """Join the job's process group, once per process: NCCL where the run may use CUDA and has it, else gloo."""
    if dist.world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device in ("auto", "cuda") and torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)


def slowest_pace(dist: Distributed, device: torch.device, pace: Pace) -> Pace:
    """The slowest process's pace, on which every process plans the same (this process's own when not distributed)."""
    if dist.world == 1:
        return pace
    paces = torch.tensor([pace.step_s, pace.eval_s], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(paces, op=torch.distributed.ReduceOp.MAX)
    return Pace(paces[0].item(), paces[1].item(), pace.steps_measured)


def main_value(dist: Distributed, device: torch.device, value: float) -> float:
    """The main process's ``value``, on every process (this process's own when not distributed)."""
    if dist.world == 1:
        return value
    shared = torch.tensor([value], dtype=torch.float64, device=device)
    torch.distributed.broadcast(shared, 0)
    return shared.item()


def summed_over_processes(dist: Distributed, totals: torch.Tensor) -> torch.Tensor:
    """``totals`` summed over every process, in place (this process's own when not distributed)."""
    if dist.world > 1:
        torch.distributed.all_reduce(totals)
    return totals


def share_buffers(dist: Distributed, model: nn.Module) -> None:
    """Give every process the main one's buffers (batch-norm statistics), as DDP does before each forward.

    Each process's statistics follow its own last batches; evaluated with them, the processes could
    choose different epochs on the validation split and end with different weights.
    """
    if dist.world == 1:
        return
    for buffer in model.buffers():
        torch.distributed.broadcast(buffer, 0)


def weight_checksums(model: nn.Module, dist: Distributed) -> list[float]:
    """Sum of every weight, one per process: equal across a DDP job when replicas agree."""
    local = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    if dist.world == 1:
        return [local.item()]
    gathered = [torch.zeros_like(local) for _ in range(dist.world)]
    torch.distributed.all_gather(gathered, local.to(next(model.parameters()).device) if local.device.type == "cpu" else local)
    return [g.item() for g in gathered]
