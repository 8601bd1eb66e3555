"""``[tool.cnnstat]`` in a project's ``pyproject.toml``: the models ``cnnstat check`` checks with no arguments.

    [tool.cnnstat]
    snapshots = "snapshots"             # folder, relative to pyproject.toml
    references = ["fvcore", "torch"]    # what --against names; [] for snapshots and budgets only
    budgets = ["params<=1M"]            # for every model

    [[tool.cnnstat.models]]
    model = "models/nets.py:build"      # a file relative to pyproject.toml, or any model name
    input = ["3x32x32"]
    budgets = ["macs<=1.5M"]

A mistake in the table is one line that names its key.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CnnstatError
from .budgets import Budget, parse_budget
from .identity import project_root

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(CnnstatError):
    """A ``[tool.cnnstat]`` table that cannot be read."""


@dataclass(frozen=True)
class ModelConfig:
    """One model of the table: the name to resolve (a file made absolute), its inputs and its own budgets."""

    model: str
    input: tuple[str, ...]
    budgets: tuple[Budget, ...]


@dataclass(frozen=True)
class ProjectConfig:
    """The ``[tool.cnnstat]`` table of one ``pyproject.toml``."""

    path: Path
    models: tuple[ModelConfig, ...]
    snapshots: Path | None
    references: tuple[str, ...] | None
    budgets: tuple[Budget, ...]


_TOP_KEYS = ("models", "snapshots", "references", "budgets")
_OPTION_KEYS = {"against": "references", "snapshot": "snapshots", "budget": "budgets"}  # --against is `references` here
_MODEL_KEYS = ("model", "input", "budgets")


def find_pyproject(start: Path) -> Path | None:
    """The ``pyproject.toml`` of the project ``start`` is in, or None."""
    path = project_root(start) / "pyproject.toml"
    return path if path.is_file() else None


def _strings(value: Any, key: str, where: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}: [tool.cnnstat] {key} must be a list of strings, not {value!r}")
    return tuple(value)


def _budgets(value: Any, key: str, where: Path) -> tuple[Budget, ...]:
    try:
        return tuple(parse_budget(text) for text in _strings(value, key, where))
    except CnnstatError as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{where}: [tool.cnnstat] {key}: {error}") from None


def _unknown(table: dict[str, Any], known: tuple[str, ...], where: Path, prefix: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            meant = (f" (the table calls --{key} {_OPTION_KEYS[key]!r})" if _OPTION_KEYS.get(key) in known
                     else f" (did you mean {close[0]!r}?)" if close else "")  # fmt: skip
            raise ConfigError(f"{where}: [tool.cnnstat] unknown key {prefix + key!r}{meant}; known keys: {', '.join(known)}")


def _model(entry: Any, index: int, root: Path, where: Path) -> ModelConfig:
    key = f"models[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: [tool.cnnstat] {key} must be a table with a model key, not {entry!r}")
    _unknown(entry, _MODEL_KEYS, where, f"{key}.")
    name = entry.get("model")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: [tool.cnnstat] {key}.model must be a model name, not {name!r}")
    location, colon, attr = name.rpartition(":")
    if colon and location.endswith(".py"):  # a file is relative to the project, wherever cnnstat runs
        name = f"{root / location}:{attr}"
    return ModelConfig(name, _strings(entry.get("input", []), f"{key}.input", where),
                       _budgets(entry.get("budgets", []), f"{key}.budgets", where))  # fmt: skip


def read_config(path: Path) -> ProjectConfig | None:
    """The ``[tool.cnnstat]`` table of ``path``, or None where it has none."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path} cannot be read: {error}") from None
    table = document.get("tool", {}).get("cnnstat")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: tool.cnnstat must be a table")
    _unknown(table, _TOP_KEYS, path, "")
    root = path.parent
    models = table.get("models", [])
    if not isinstance(models, list):
        raise ConfigError(f"{path}: [tool.cnnstat] models must be an array of tables ([[tool.cnnstat.models]])")
    snapshots = table.get("snapshots")
    if snapshots is not None and not isinstance(snapshots, str):
        raise ConfigError(f"{path}: [tool.cnnstat] snapshots must be a folder name, not {snapshots!r}")
    references = table.get("references")
    return ProjectConfig(
        path,
        tuple(_model(entry, index, root, path) for index, entry in enumerate(models)),
        None if snapshots is None else root / snapshots,
        None if references is None else _strings(references, "references", path),
        _budgets(table.get("budgets", []), "budgets", path),
    )


def project_config(start: Path) -> ProjectConfig | None:
    """The table of the project ``start`` is in, or None where there is none."""
    path = find_pyproject(start)
    return None if path is None else read_config(path)
