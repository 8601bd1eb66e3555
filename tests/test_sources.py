"""Model sources: one registered source per kind of name, loading that leaves the process as it was, one build on meta."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnstat
from cnnstat.counting.registry import Registry
from cnnstat.errors import CnnstatError, DuplicateNameError, UnknownModelError
from cnnstat.zoo import resolve_model
from cnnstat.zoo.sources import base
from cnnstat.zoo.sources.base import ModelSource, ResolvedModel, register_source, sources

# A builder that computes with tensor values while it builds, as torchvision's RegNet does: under
# `torch.device("meta")` alone `.tolist()` has no values to give. Each call writes one line of what it
# saw: nn.Module's attributes (by identity: this is the same process) and where another thread's
# nn.Linear puts its weight meanwhile.
BUILDER = """
import json
import threading

import torch
from torch import nn


def build():
    widths = (torch.arange(3) * 4 + 4).tolist()  # [4, 8, 12]: real values, from tensors
    other = {{}}
    thread = threading.Thread(target=lambda: other.update(device=nn.Linear(3, 4).weight.device.type))
    thread.start()
    thread.join()
    seen = {{"module_attributes": {{name: id(value) for name, value in vars(nn.Module).items()}}, "other_thread": other["device"]}}
    with open({calls!r}, "a") as calls:
        calls.write(json.dumps(seen) + "\\n")
    return nn.Sequential(*[nn.Linear(a, b) for a, b in zip([4, *widths], widths)], nn.BatchNorm1d(widths[-1]))
"""


@pytest.fixture
def user_file(tmp_path):
    """A user's file with a counting builder; the path of its calls log."""
    calls = tmp_path / "calls.txt"
    path = tmp_path / "counted_net.py"
    path.write_text(textwrap.dedent(BUILDER.format(calls=str(calls))))
    return path, calls


def test_each_kind_of_name_is_claimed_by_its_own_source(tmp_path, monkeypatch, user_file):
    path, _ = user_file
    package = tmp_path / "sourcepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text("from torch import nn\nnet = nn.Linear(2, 3)\n")
    monkeypatch.chdir(tmp_path)
    try:
        claimed = {name: resolve_model(name).source
                   for name in ("lenet5", "squeezenet1_1", f"{path}:build", "sourcepkg.nets:net")}  # fmt: skip
    finally:
        for name in ("sourcepkg", "sourcepkg.nets"):
            sys.modules.pop(name, None)
    assert claimed == {
        "lenet5": "zoo",
        "squeezenet1_1": "torchvision",
        f"{path}:build": "file",
        "sourcepkg.nets:net": "import path",
    }
    with pytest.raises(UnknownModelError, match="did you mean lenet5"):
        resolve_model("lenet55")


def test_a_second_source_under_one_name_is_refused():
    with pytest.raises(DuplicateNameError, match="'zoo'"):
        register_source(type("AnotherZoo", (ModelSource,), {"name": "zoo"})())


def test_loading_a_file_leaves_sys_path_and_sys_modules_as_they_were(user_file):
    path, _ = user_file
    path_before, modules_before = list(sys.path), set(sys.modules)
    resolved = resolve_model(f"{path}:build")
    assert list(sys.path) == path_before
    assert set(sys.modules) == modules_before  # the file imports only what the test has imported already
    assert isinstance(resolved.module, nn.Sequential)


def test_an_import_path_leaves_sys_path_as_it_was(tmp_path, monkeypatch):
    (tmp_path / "pathpkg.py").write_text("from torch import nn\nnet = nn.Linear(2, 3)\n")
    monkeypatch.chdir(tmp_path)
    path_before, modules_before = list(sys.path), set(sys.modules)
    try:
        resolve_model("pathpkg:net")
        new = set(sys.modules) - modules_before
    finally:
        sys.modules.pop("pathpkg", None)
    assert list(sys.path) == path_before
    assert new == {"pathpkg"}  # the user's module, imported as Python imports it; nothing of cnnstat's


def test_the_builder_runs_once_and_every_parameter_and_buffer_is_on_meta(user_file):
    path, calls = user_file
    module = resolve_model(f"{path}:build").module
    assert len(calls.read_text().splitlines()) == 1
    tensors = [*module.parameters(), *module.buffers()]
    assert {t.device.type for t in tensors} == {"meta"}
    # the same shapes as the real build, which torch makes on the CPU
    real = resolve_model(f"{path}:build", on_meta=False).module
    assert [(n, t.shape) for n, t in module.state_dict().items()] == [(n, t.shape) for n, t in real.state_dict().items()]
    assert {t.device.type for t in real.parameters()} == {"cpu"}
    assert len(calls.read_text().splitlines()) == 2  # one more for the real build, and no more


def test_building_on_meta_changes_nothing_process_wide(user_file):
    """nn.Module keeps its attributes while the builder runs, and a module another thread builds meanwhile is real."""
    path, calls = user_file
    before = {name: id(value) for name, value in vars(nn.Module).items()}
    resolve_model(f"{path}:build")
    seen = json.loads(calls.read_text())
    assert seen == {"module_attributes": before, "other_thread": "cpu"}
    assert {name: id(value) for name, value in vars(nn.Module).items()} == before
    assert nn.Linear(3, 4).weight.device.type == "cpu"  # and after the build, in this thread too


def test_list_models_iterates_the_sources():
    assert cnnstat.list_models("lenet5*") == ["lenet5", "lenet5-1998"]
    every = cnnstat.list_models("regnet_y_4*", sources=["torchvision"])
    assert every == ["regnet_y_400mf"]  # torchvision's own list, not a copy
    assert cnnstat.list_models("alexnet*", torchvision=True) == ["alexnet", "alexnet-2012"]  # the zoo's name is listed once
    with pytest.raises(CnnstatError, match="unknown model source tim;"):
        cnnstat.list_models(sources=["tim"])


class _ToySource(ModelSource):
    """A source as the next issue adds them: claims a prefix, builds, lists, describes."""

    name = "toy"
    listed_by_default = False

    def claims(self, name: str) -> bool:
        return name.startswith("toy-")

    def resolve(self, name: str) -> ResolvedModel:
        width = int(name.removeprefix("toy-"))
        return ResolvedModel(name, nn.Linear(width, width), (cnnstat.counting.inputs.InputSpec((width,), "float32"),),
                             source=self.name)  # fmt: skip

    def list(self, pattern: str = "*") -> list[str]:
        return [name for name in ("toy-4", "toy-8") if __import__("fnmatch").fnmatch(name, pattern)]

    def describe(self, name: str) -> dict:
        return {"name": name, "aliases": [], "family": "toy", "source": self.name, "input": "", "params": 0, "published": []}


def _copy_registry(monkeypatch) -> None:
    """The sources as registered, in a registry of the test's own that a toy source can join."""
    registry: Registry[str, ModelSource] = Registry("model source")
    for source in sources():
        registry.register(source.name, source)
    monkeypatch.setattr(base, "_SOURCES", registry)


def _linear_8_macs() -> int:
    """MACs of the toy's nn.Linear(8, 8) as torch's FlopCounterMode counts them (half its FLOPs)."""
    reference = FlopCounterMode(display=False)
    with reference, torch.device("meta"):
        nn.Linear(8, 8)(torch.empty(1, 8))
    return reference.get_total_flops() // 2


def test_a_new_source_is_one_registration(monkeypatch):
    """Registered once, a source is resolved by name, analysed, listed and described, with nothing else changed."""
    import cnnstat.counting.inputs  # noqa: F401

    _copy_registry(monkeypatch)
    register_source(_ToySource())
    assert cnnstat.analyze("toy-8").totals["macs"] == _linear_8_macs()
    assert cnnstat.list_models("toy-*", sources=["toy"]) == ["toy-4", "toy-8"]
    assert "toy-4" not in cnnstat.list_models()  # not listed unless asked for: by name, or by a pattern it claims
    assert cnnstat.list_models("toy-*") == ["toy-4", "toy-8"]


class _PrefixedToy(_ToySource):
    """A source that declares a prefix with a colon, registered after the import path that takes any colon."""

    name = "prefixed toy"
    prefixes = ("toy:",)
    claims = ModelSource.claims  # by its prefix alone

    def resolve(self, name: str) -> ResolvedModel:
        return super().resolve(name.replace("toy:", "toy-"))


def test_a_source_registered_last_gets_the_names_with_its_prefix(monkeypatch):
    _copy_registry(monkeypatch)
    register_source(_PrefixedToy())
    assert [source.name for source in sources()][-1] == "prefixed toy"
    assert base.source_for("toy:8").name == "prefixed toy"  # not the import path's, which takes any colon
    assert base.source_for("toy.nets:build").name == "import path"
    assert cnnstat.analyze("toy:8").totals["macs"] == _linear_8_macs()
