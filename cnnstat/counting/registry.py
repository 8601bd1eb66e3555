"""A name-to-entry table that refuses a second entry under a name, as torch's and torchvision's registries do."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from ..errors import DuplicateNameError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Registry(Generic[K, V]):
    """Entries by key; registering a key twice raises :class:`DuplicateNameError`."""

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[K, V] = {}

    def register(self, key: K, entry: V) -> None:
        if key in self._entries:
            raise DuplicateNameError(f"a {self.what} is already registered under {key!r}")
        self._entries[key] = entry

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
