"""A time limit for a trace: a model whose forward never ends is stopped with a clear error."""

from __future__ import annotations

import gc
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

from ..errors import TraceError

# A day: longer is no limit in practice, and setitimer overflows on values near float's range.
MAX_TIMEOUT_S = 86_400.0
# How much longer an import or a finalizer under way may run past the limit (torch imports sympy lazily on a model's
# first meta op): cut short, a module stays half-imported for the rest of the process, and a finalizer loses the signal.
GRACE_S = 30.0
# After the limit the signal comes again this often until the block is left, as one can be lost: raised inside a
# garbage-collector callback or a __del__, Python only prints it. Far enough apart that cnnstat's own clean-up,
# after the first, is not cut short by the next.
REPEAT_S = 1.0
# How soon the signal comes again after landing in an import or a finalizer, which it lets finish.
RETRY_S = 0.05


class TraceTimeout(TraceError):
    """A forward pass (or a model's build) that ran past its time limit."""


class _Expired(BaseException):
    """The timer's signal, raised inside the user's code.

    Not an ``Exception``: a forward that loops over ``try: ... except Exception: pass`` would swallow
    one and run on. It becomes a :class:`TraceTimeout` once it is out of the user's code.
    """


class time_limit:  # noqa: N801 - used as a function-like context manager: ``with time_limit(5, "resnet50"):``
    """Raise :class:`TraceTimeout` naming ``what`` if the block runs longer than ``seconds``; no limit for None.

    Uses the process's interval timer, so it works in the main thread of a Unix process (the command
    line); elsewhere a limit is refused rather than silently ignored. A class rather than a generator:
    the signal can land anywhere, and it must never land in the code that arms or disarms the timer
    (an exception raised there would leave the handler installed), so the handler recognises these
    two methods by their code.
    """

    def __init__(self, seconds: float | None, what: str) -> None:
        if seconds is not None:
            if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT_S):
                raise TraceError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} s, got {seconds:g}")
            if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
                raise TraceError("--timeout needs the main thread of a Unix process")
        self.seconds = seconds
        self.what = what

    def __enter__(self) -> None:
        if self.seconds is None:
            return
        self._deadline = time.monotonic() + self.seconds
        self._state = _TorchState.now()
        self._previous = signal.signal(signal.SIGALRM, self._expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds, REPEAT_S)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> bool:
        if self.seconds is None:
            return False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)
        if kind is not _Expired:
            return False
        self._state.restore()
        raise TraceTimeout(f"{self.what} did not finish within {self.seconds:g} s (--timeout); does its forward loop forever?") from None

    def _expire(self, signum: int, frame: FrameType | None) -> None:
        # Inside this class's own entry or exit the user's code is not running: on the way in the timer's repeat
        # brings the signal again, on the way out the timer is (or is about to be) off; re-arming could outlive it.
        if _runs_own_code(frame):
            return
        # A module cut half-way through its import stays broken for the rest of the process (the next `import sympy`
        # finds no `sympy.logic`), and a finalizer would lose the signal: let either finish, then stop the model.
        if _must_not_be_cut(frame) and time.monotonic() < self._deadline + GRACE_S:
            signal.setitimer(signal.ITIMER_REAL, RETRY_S, REPEAT_S)
            return
        raise _Expired


@dataclass(frozen=True)
class _TorchState:
    """What torch keeps for the whole process and a ``with`` block changes: grad mode, the stacks of torch-function
    and dispatch modes (``torch.device("meta")`` is one), the default saved-tensor hooks.

    A signal landing inside such a block's ``__enter__``, after the change and before the block began, leaves the
    change in place with no ``__exit__`` to undo it: the next training run in the process would find grad off.
    """

    grad_enabled: bool = True
    function_modes: int = 0
    dispatch_modes: int = 0
    saved_tensor_hooks: tuple[Any, ...] | None = None

    @classmethod
    def now(cls) -> _TorchState:
        torch = sys.modules.get("torch")
        if torch is None:  # not imported yet: torch starts in the default state
            return cls()
        return cls(torch.is_grad_enabled(), torch._C._len_torch_function_stack(), torch._C._len_torch_dispatch_stack(),
                   torch._C._autograd._top_saved_tensors_default_hooks(False))  # fmt: skip

    def restore(self) -> None:
        """Back to this state, where torch's internals let it be read (a torch without them is left as it is)."""
        torch = sys.modules.get("torch")
        if torch is None:
            return
        try:
            torch.set_grad_enabled(self.grad_enabled)
            while torch._C._len_torch_function_stack() > self.function_modes:
                torch._C._pop_torch_function_stack()
            while torch._C._len_torch_dispatch_stack() > self.dispatch_modes:
                torch._C._pop_torch_dispatch_stack()
            autograd = torch._C._autograd
            while (top := autograd._top_saved_tensors_default_hooks(False)) is not None and top != self.saved_tensor_hooks:
                autograd._pop_saved_tensors_default_hooks()
        except (AttributeError, RuntimeError):
            pass


def _runs_own_code(frame: FrameType | None) -> bool:
    """Whether ``frame`` or a caller of it is :class:`time_limit`'s ``__enter__`` or ``__exit__``."""
    own = {time_limit.__enter__.__code__, time_limit.__exit__.__code__}
    while frame is not None:
        if frame.f_code in own:
            return True
        frame = frame.f_back
    return False


def _must_not_be_cut(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs an ``import`` (importlib's ``_find_and_load``), a ``__del__`` or a garbage-collector callback.

    An exception raised in the first leaves a module half-imported; in the others Python only prints it.
    """
    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or code in callbacks:
            return True
        if code.co_name == "_find_and_load" and code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False
