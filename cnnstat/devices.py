"""Choosing the device and the fast paths that go with it (AMP, channels_last), for train and bench."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .device_choices import DEFAULT_DEVICE, DEVICE_CHOICES
from .errors import CnnstatError


@dataclass(frozen=True)
class DeviceSetup:
    """A device and how to run on it."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool

    @property
    def description(self) -> str:
        extras = [f"AMP {str(self.amp_dtype).removeprefix('torch.')}"] if self.amp_dtype else []
        extras += ["channels_last"] if self.channels_last else []
        if self.device.type == "cpu":
            cpu = cpu_info()
            threads = torch.get_num_threads()
            extras = [cpu.model, f"{threads} thread{'s' if threads > 1 else ''}", cpu.isa, *extras]
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else self.device.type
        return name + (f" ({', '.join(extras)})" if extras else "")

    def autocast(self) -> torch.autocast:
        """Mixed precision where it applies; a disabled context elsewhere."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None)


def synchronize(device: torch.device) -> None:
    """Wait for every kernel queued on ``device``: GPUs run behind the host, so a clock read without this times the queueing."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def cuda_amp_dtype() -> torch.dtype:
    """bfloat16 where the GPU supports it (no loss scaling needed), else float16."""
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def cpu_has_native_bf16() -> bool:
    """True where oneDNN runs bfloat16 natively (AVX512-BF16 or AMX), so CPU autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass(frozen=True)
class CpuInfo:
    """The CPU by name, the instruction set torch's kernels use on it, and the flags that decide bf16 speed."""

    model: str
    isa: str  # torch's CPU capability: DEFAULT, AVX2, AVX512 (ATEN_CPU_CAPABILITY lowers it)
    flags: tuple[str, ...]  # of avx512f, avx512_bf16, amx_bf16, amx_tile, those the CPU reports
    native_bf16: bool  # as oneDNN sees it (ONEDNN_MAX_CPU_ISA lowers it)

    def describe(self) -> str:
        shown = ", ".join(self.flags) if self.flags else "no AVX-512"
        return f"{self.model}; flags {shown}; torch uses {self.isa}; native bf16 {'yes' if self.native_bf16 else 'no'}"


def cpu_info() -> CpuInfo:
    """This machine's CPU, read from /proc/cpuinfo where there is one."""
    model: str | None = None
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():  # the first core's lines speak for all
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    wanted = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return CpuInfo(model or os.uname().machine, torch.backends.cpu.get_cpu_capability(), tuple(f for f in wanted if f in flags),
                   cpu_has_native_bf16())  # fmt: skip


def select_device(requested: str = DEFAULT_DEVICE, *, amp: bool | None = None, channels_last: bool | None = None) -> DeviceSetup:
    """``auto`` picks CUDA (with AMP and channels_last), then MPS, then the CPU.

    ``amp=None`` means the device's default: on for CUDA, off elsewhere; ``amp=True`` on a CPU uses
    bfloat16 autocast where the CPU has native bf16, and nothing where it has not.
    """
    if requested not in DEVICE_CHOICES:
        raise CnnstatError(f"unknown device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise CnnstatError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise CnnstatError("--device mps: no Apple GPU is available here; use --device cpu or auto")
    on_gpu = requested == "cuda"
    amp_dtype = None
    if on_gpu and amp is not False:
        amp_dtype = cuda_amp_dtype()
    elif requested == "cpu" and amp and cpu_has_native_bf16():
        amp_dtype = torch.bfloat16
    return DeviceSetup(
        device=torch.device(requested),
        amp_dtype=amp_dtype,
        channels_last=on_gpu if channels_last is None else channels_last,
    )
