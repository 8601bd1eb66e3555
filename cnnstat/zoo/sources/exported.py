"""Exported programs (``model.pt2`` from ``torch.export.save``), counted from their graph, never running code from the file.

``torch.export.load`` reads the graph from JSON and tensors from raw bytes, but falls back to pickle
(``torch.load(weights_only=False)``, ``pickle.loads``) for tensors and objects it cannot store raw, and an
archive may carry a compiled AOTInductor library. Those members are refused before loading, and the
load runs with ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` set, so any pickle left is read by torch's
weights-only unpickler, which builds tensors and containers and nothing else.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from ...counting.inputs import InputSpec
from ...errors import ModelLoadError
from .base import ModelSource, ResolvedModel, register_source

# members whose loading runs code: pickled objects (opaque, torchbind) and compiled libraries
CODE_PREFIXES = ("custom_obj_", "opaque_obj_")
CODE_SUFFIXES = (".so", ".dll", ".dylib", ".pyd")


def code_member(archive: zipfile.ZipFile) -> str | None:
    """The first member of the archive that only running code could load, or None."""
    for member in archive.namelist():
        base = PurePosixPath(member).name
        if base.startswith(CODE_PREFIXES) or base.endswith(CODE_SUFFIXES):
            return member
    return None


@contextmanager
def weights_only_loads() -> Iterator[None]:
    """Every ``torch.load`` inside reads with the weights-only unpickler, whatever its caller asks; torch's log is quiet."""
    before = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    logger = logging.getLogger("torch.export")  # it logs a refused load's traceback before raising: the refusal is ours
    was_disabled, logger.disabled = logger.disabled, True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the unpickler's note on pickle protocols
            yield
    finally:
        logger.disabled = was_disabled
        if before is None:
            os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = before


def load_program(location: str) -> Any:
    """The ExportedProgram in ``location``, or a one-line refusal where loading it would run code from the file."""
    import torch

    path = Path(location)
    if not path.is_file():
        raise ModelLoadError(f"no such file: {location}")
    try:
        with zipfile.ZipFile(path) as archive:
            member = code_member(archive)
    except zipfile.BadZipFile:
        raise ModelLoadError(f"{location} is not an exported program (torch.export.save writes a zip archive)") from None
    if member is not None:
        raise ModelLoadError(f"refusing {location}: loading its {member} would run code from the file")
    try:
        # the file's tensors are read on the CPU even while a model is built on meta; its module moves them there
        with weights_only_loads(), torch.device("cpu"):
            return torch.export.load(path)
    except pickle.UnpicklingError:  # torch's message suggests loading it unsafely: not repeated
        raise ModelLoadError(f"refusing {location}: it holds a pickle that only running code could load") from None
    except Exception as error:  # a truncated or foreign archive fails inside torch in many ways
        raise ModelLoadError(f"cannot load {location}: {type(error).__name__}: {error}") from None


def example_specs(program: Any) -> tuple[tuple[InputSpec, ...] | None, int]:
    """The program's example inputs as per-sample specs, and their batch (the first dimension of the first)."""
    from ...counting.inputs import InputSpec

    if program.example_inputs is None:
        return None, 1
    args, kwargs = program.example_inputs
    tensors = [(None, t) for t in args] + list(kwargs.items())
    specs = tuple(InputSpec(tuple(t.shape[1:]), str(t.dtype).removeprefix("torch."), name) for name, t in tensors)
    batch = int(tensors[0][1].shape[0]) if tensors and tensors[0][1].dim() else 1
    return specs, batch


def batch_note(batch: int) -> str:
    """What a file exported at a batch other than 1 says: its figures at that batch need ``--batch``."""
    return f"exported with batch {batch}: give --batch {batch} to count it as exported"


def program_module(program: Any) -> Any:
    """The program as modules named as in the module it was exported from (``torch.export.unflatten``), else flat."""
    import torch

    try:
        return torch.export.unflatten(program)
    except Exception:  # a program unflatten cannot split: its flat graph counts the same, as one layer per op
        module = program.module()
        # torch refuses train() and eval() on it, as the mode is part of the graph; cnnstat's eval() changes nothing
        del module.train, module.eval
        return module


class ExportedSource(ModelSource):
    """``path/to/model.pt2``: the graph torch.export saved, with its example inputs as the default input."""

    name = "exported program"
    unavailable_references = {"fvcore": "fvcore re-traces a module with torch.jit; an exported program's modules "
                                        "interpret its aten graph, and fvcore's figures for them are not reconciled"}  # fmt: skip

    def claims(self, name: str) -> bool:
        return name.endswith(".pt2")

    def resolve(self, name: str) -> ResolvedModel:
        program = load_program(name)
        specs, batch = example_specs(program)
        notes = (batch_note(batch),) if batch != 1 else ()
        return ResolvedModel(name, program_module(program), specs, notes=notes, source=self.name)


register_source(ExportedSource())
