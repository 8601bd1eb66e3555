"""Where cnnstat keeps measured peaks and downloaded data sets: the XDG cache folder, as its specification reads."""

from __future__ import annotations

import pytest

from cnnstat.cache import cache_folder


def test_an_absolute_xdg_cache_home_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "cnnstat"


@pytest.mark.parametrize("value", [None, "", "relative/cache"])
def test_an_unset_empty_or_relative_one_falls_back_to_the_home_cache(value, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    if value is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", value)
    assert cache_folder() == tmp_path / ".cache" / "cnnstat"
