"""Choosing the device and the fast paths that go with it (AMP, channels_last), for train and bench."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import CnnstatError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class DeviceSetup:
    """A device and how to run on it."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool

    @property
    def description(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else self.device.type
        extras = [f"AMP {str(self.amp_dtype).removeprefix('torch.')}"] if self.amp_dtype else []
        extras += ["channels_last"] if self.channels_last else []
        return name + (f" ({', '.join(extras)})" if extras else "")

    def autocast(self) -> torch.autocast:
        """Mixed precision where it applies; a disabled context elsewhere."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None)


def cuda_amp_dtype() -> torch.dtype:
    """bfloat16 where the GPU supports it (no loss scaling needed), else float16."""
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def cpu_has_native_bf16() -> bool:
    """True where oneDNN runs bfloat16 natively (AVX512-BF16 or AMX), so CPU autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def select_device(requested: str = "auto", *, amp: bool | None = None, channels_last: bool | None = None) -> DeviceSetup:
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
