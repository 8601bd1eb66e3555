"""Exported programs (.pt2): the figures of the module they were exported from; nothing in the file runs."""

from __future__ import annotations

import json
import pickle
import zipfile

import pytest
import torch
import torchvision
from round_trip import ROUND_TRIP, counted_from_file, source_module

import cnnstat
from cnnstat.errors import ModelLoadError
from cnnstat.zoo import resolve_model


def export(module: torch.nn.Module, size: tuple[int, ...], path) -> str:
    torch.manual_seed(0)
    program = torch.export.export(module.eval(), (torch.randn(1, *size),))
    torch.export.save(program, path)
    return str(path)


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_a_program_counts_as_the_module_it_was_exported_from(name, tmp_path, cli):
    module, size = source_module(name)
    totals = counted_from_file(cli, export(module, size, tmp_path / f"{name}.pt2"), module, size)
    source = cnnstat.analyze(module, size)
    # the zoo's LeNet layers count FLOPs and connections by their own layer counters, which a graph of aten ops
    # no longer names: there only the MACs are the module's
    figures = ("macs", "flops", "connections", "activation_bytes") if name == "resnet18" else ("macs",)
    for figure in figures:
        assert totals[figure] == source.totals[figure], figure


def _with_pickled_weight(path: str, payload: object, out) -> str:
    """A copy of an archive whose first weight is read from a pickle holding ``payload``."""
    with zipfile.ZipFile(path) as archive, zipfile.ZipFile(out, "w") as copy:
        for member in archive.namelist():
            data = archive.read(member)
            if member.endswith("weights_config.json"):
                config = json.loads(data)
                first = next(iter(config["config"].values()))
                first.update(path_name="weight_pickled", use_pickle=True)
                copy.writestr(member.replace("model_weights_config.json", "weight_pickled"), pickle.dumps(payload))
                data = json.dumps(config).encode()
            copy.writestr(member, data)
    return str(out)


class OpensAFile:
    """A pickle that runs code when loaded: it creates the file named."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_program_whose_loading_would_run_code_is_refused_in_one_line(tmp_path):
    path = export(torchvision.models.resnet18(), (3, 64, 64), tmp_path / "plain.pt2")
    marker = tmp_path / "ran"
    evil = _with_pickled_weight(path, OpensAFile(str(marker)), tmp_path / "evil.pt2")
    with pytest.raises(RuntimeError):  # torch's own loader runs the pickle (then fails on what it built)
        torch.export.load(evil)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ModelLoadError, match=r"^refusing .*evil\.pt2: it holds a pickle that only running code could load"):
        resolve_model(evil)
    assert not marker.exists()


def test_a_file_that_is_not_an_archive_is_one_line(tmp_path, cli):
    path = tmp_path / "model.pt2"
    path.write_text("not a zip")
    result = cli("summary", str(path))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {path} is not an exported program (torch.export.save writes a zip archive)"
    ]


def test_an_archive_with_a_compiled_library_is_refused_before_loading(tmp_path):
    path = export(torchvision.models.resnet18(), (3, 64, 64), tmp_path / "plain.pt2")
    library = tmp_path / "aoti.pt2"
    with zipfile.ZipFile(path) as archive, zipfile.ZipFile(library, "w") as copy:
        for member in archive.namelist():
            copy.writestr(member, archive.read(member))
        copy.writestr("plain/data/aotinductor/model/model.so", b"\x7fELF")
    with pytest.raises(
        ModelLoadError, match=r"^refusing .*aoti\.pt2: loading its plain/data/aotinductor/model/model\.so would run code"
    ):
        resolve_model(str(library))
