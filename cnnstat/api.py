"""The Python API the command line uses: ``analyze``, ``get_model`` and ``list_models``."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .counting.conventions import DEFAULT_CONVENTION
from .counting.memory import DEFAULT_OPTIMIZER
from .errors import InputShapeError

if TYPE_CHECKING:
    from torch import nn

    from .counting.inputs import InputSpec
    from .counting.report import Report


def analyze(
    model: str | nn.Module,
    input_size: Any = None,
    *,
    dtypes: Any = None,
    input_data: Any = None,
    batch: int = 1,
    convention: str = DEFAULT_CONVENTION,
    optimizer: str = DEFAULT_OPTIMIZER,
    train: bool = False,
    timeout: float | None = None,
) -> Report:
    """Count a model layer by layer: shapes, parameters, MACs, FLOPs, connections, receptive fields, memory.

    ``model`` is a zoo or torchvision name, ``timm:name``, ``hf:folder``, a ``.pt2`` or ``.onnx`` file,
    ``package.module:attr``, ``path/file.py:attr``, or a module you built (it is not changed: it runs on
    meta stand-ins for its tensors). Inputs, batch first added: ``input_size=(3, 224, 224)``, several as a
    list, keyword ones as a dict, with ``dtypes``; or ready tensors as ``input_data`` (a tensor, a sequence,
    or a dict of keyword tensors). Without either, the model's own default inputs. ``convention`` names the
    FLOP convention, ``optimizer`` (sgd, momentum, adam, adamw) the state counted in training memory,
    ``train`` runs the model in training mode (its batch norms then count batch statistics), and ``timeout``
    (seconds, main thread only) stops a model whose build or forward pass never ends.

    >>> report = analyze("resnet50", convention="macs")
    >>> report.totals["flops"]
    4089184256
    """
    from torch import nn

    from .counting.analyze import analyze_module
    from .counting.inputs import specs_from_sizes
    from .counting.time_limit import time_limit
    from .zoo.resolve import resolve_model
    from .zoo.sources.user_code import declared_inputs

    given = specs_from_sizes(input_size, dtypes) if input_size is not None else []
    options = {"input_data": input_data, "batch": batch, "convention": convention, "optimizer": optimizer, "train": train}
    if isinstance(model, nn.Module):
        name = type(model).__name__
        specs = _inputs(name, model, given, declared_inputs(model), input_data)
        with time_limit(timeout, name):
            return analyze_module(model, specs, name=name, **options)
    with time_limit(timeout, model):
        resolved = resolve_model(model)
        specs = _inputs(resolved.name, resolved.module, given, resolved.inputs, input_data)
        return analyze_module(resolved.module, specs, name=resolved.name, notes=resolved.notes, **options)


def _inputs(name: str, module: nn.Module, given: list[InputSpec], defaults: Any, input_data: Any) -> list[InputSpec]:
    """The specs to trace with: the given ones fitted to the defaults, else the defaults; checked against ``forward``."""
    from .counting.inputs import fit_to_defaults, suggested_input

    if input_data is not None:
        return []
    specs = fit_to_defaults(given, defaults) if given else list(defaults or [])
    if not specs:
        shape, meaning = suggested_input(module)
        raise InputShapeError(f"{name} has no default input; give its shape with --input, e.g. --input {shape} ({meaning})")
    _check_arity(name, module, specs)
    return specs


def _check_arity(name: str, module: nn.Module, specs: list[InputSpec]) -> None:
    """Refuse more positional inputs than ``forward`` takes, or too few for its required ones, in one line."""
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):  # no readable signature: let the forward pass speak for itself
        return
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return
    positional = [p for p in parameters if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    named = {s.name for s in specs if s.name}
    given = sum(1 for s in specs if s.name is None)
    required = [p.name for p in positional if p.default is inspect.Parameter.empty and p.name not in named]
    takes = ", ".join(p.name for p in positional) or "none"
    if given > len(positional):
        from .counting.columns import counted

        raise InputShapeError(f"{name} takes {counted(len(positional), 'positional input')} ({takes}), "
                              f"but {given} --input {'were' if given != 1 else 'was'} given")  # fmt: skip
    missing = required[given:]
    if missing:
        raise InputShapeError(f"{name} needs an input for {', '.join(missing)}: give one --input per input of forward ({takes})")
    keywords = {p.name for p in parameters} | (
        {"*"} if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters) else set()
    )
    unknown = sorted(n for n in named if n not in keywords and "*" not in keywords)
    if unknown:
        raise InputShapeError(f"{name}'s forward has no argument {', '.join(unknown)} (it takes {takes})")


def get_model(name: str) -> nn.Module:
    """A model by zoo, torchvision or import-path name, with freshly initialised weights on the CPU.

    torchvision's models are built from its own classes, as ``torchvision.models.get_model`` builds them.
    """
    from .zoo import resolve_model

    return resolve_model(name, on_meta=False).model


def list_models(pattern: str = "*", *, torchvision: bool = False, sources: Iterable[str] = ()) -> list[str]:
    """Names matching a shell wildcard from the sources listed by default (the zoo), from those named in
    ``sources`` (timm, hf, torchvision) and from a source whose prefix the pattern has (``timm:conv*``);
    ``torchvision=True`` is short for ``sources=["torchvision"]``."""
    from .zoo.listing import model_names

    return model_names(pattern, [*sources, *(["torchvision"] if torchvision else [])])
