"""Published peaks of common accelerators, each with its source as printed: a bound for a machine you do not have.

Dense figures: where a datasheet prints a tensor-core rate "with sparsity", the dense rate is half
of it, as the same datasheet's footnote says. These are what the vendor prints, not measurements:
a floor from them is a bound no real run beats, and real runs sit well above it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CnnstatError


@dataclass(frozen=True)
class PublishedDevice:
    """One accelerator's printed peaks: dense TFLOP/s per dtype, memory bandwidth, and where they were printed."""

    key: str
    name: str
    tflops: dict[str, float]
    bandwidth_gbs: float
    source: str

    def compute_gflops(self, dtype: str) -> float:
        return 1000 * self.tflops.get(dtype, self.tflops["float32"])

    def bandwidth_at(self, working_set: int) -> float:
        """Its memory's bandwidth at any working set: a datasheet prints no cache bandwidths."""
        return self.bandwidth_gbs


PUBLISHED: dict[str, PublishedDevice] = {d.key: d for d in (
    PublishedDevice("h100", "NVIDIA H100 SXM5", {"float32": 67.0, "bfloat16": 989.5, "float16": 989.5}, 3350.0,
                    "NVIDIA H100 Tensor Core GPU datasheet: FP32 67 teraFLOPS; BF16/FP16 Tensor Core 1,979 teraFLOPS "
                    "with sparsity (dense half); GPU memory bandwidth 3.35TB/s"),
    PublishedDevice("a100", "NVIDIA A100 80GB SXM", {"float32": 19.5, "bfloat16": 312.0, "float16": 312.0}, 2039.0,
                    "NVIDIA A100 Tensor Core GPU datasheet: FP32 19.5 TFLOPS; BFLOAT16/FP16 Tensor Core 312 TFLOPS "
                    "(624 with sparsity); GPU memory bandwidth 2,039GB/s"),
    PublishedDevice("l4", "NVIDIA L4", {"float32": 30.3, "bfloat16": 121.0, "float16": 121.0}, 300.0,
                    "NVIDIA L4 Tensor Core GPU datasheet: FP32 30.3 teraFLOPs; BF16/FP16 Tensor Core 242 teraFLOPS "
                    "with sparsity (dense half); GPU memory bandwidth 300GB/s"),
    PublishedDevice("rtx4090", "NVIDIA GeForce RTX 4090", {"float32": 82.6, "bfloat16": 165.2, "float16": 165.2}, 1008.0,
                    "NVIDIA Ada Lovelace GPU architecture whitepaper, Table 1: peak FP32 82.6 TFLOPS; peak FP16/BF16 "
                    "Tensor TFLOPS with FP32 accumulate 165.2; memory bandwidth 1008 GB/sec"),
    PublishedDevice("m1max", "Apple M1 Max (32-core GPU)", {"float32": 10.4}, 400.0,
                    "Apple Newsroom, 'Introducing M1 Pro and M1 Max' (18 Oct 2021): up to 10.4 teraflops; "
                    "memory bandwidth up to 400GB/s"),
)}  # fmt: skip


def published_device(key: str) -> PublishedDevice:
    """The published entry named ``key`` (case and punctuation ignored)."""
    wanted = "".join(c for c in key.lower() if c.isalnum())
    if wanted not in PUBLISHED:
        raise CnnstatError(f"--on {key!r}: no published peaks for it; choose one of {', '.join(PUBLISHED)}")
    return PUBLISHED[wanted]
