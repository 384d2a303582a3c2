"""One registry shape for every kind of backend: TTS voices, translators, ASR engines and
separators are each a ``Registry`` of classes found by name.

A backend declares what it can do as class attributes (``languages``, ``bundled``,
``can_rewrite``...), so callers ask the class instead of checking names. A class registers
with ``@registry.register``, or by ``"module:Class"`` when importing its module is costly and
should wait until it is used. A backend shipped in another package registers through the
``dub.backends`` entry point group, named ``KIND.NAME``::

    [project.entry-points."dub.backends"]
    "tts.my-voice" = "my_package.tts:MyVoice"

where KIND is the registry's kind (``tts``, ``translator``, ``asr``, ``separator``). Entry
points are read on the first lookup, not at import, and a built-in name always wins.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Generic, Iterator, TypeVar

ENTRY_POINT_GROUP = "dub.backends"

T = TypeVar("T")


class Registry(Generic[T]):
    """Backends of one kind by name. ``error`` is the exception an unknown name raises (each
    layer has its own typed errors); its message lists the known names."""

    def __init__(self, kind: str, noun: str, error: type[Exception]):
        self.kind = kind  # the entry point prefix: "tts" in "tts.my-voice"
        self.noun = noun  # how messages call one: "TTS backend"
        self.error = error
        self._classes: dict[str, T] = {}
        self._lazy: dict[str, str | metadata.EntryPoint] = {}  # name -> "module:Class" or an entry point
        self._plugins: set[str] = set()  # names that came from entry points
        self._plugins_read = False

    def register(self, cls: T) -> T:
        """Class decorator: register ``cls`` under its ``name`` attribute."""
        self._classes[cls.name] = cls  # type: ignore[attr-defined]
        self._lazy.pop(cls.name, None)  # type: ignore[attr-defined]
        return cls

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"module:Class"``, imported on first use (a module that pulls in torch)."""
        if name not in self._classes:
            self._lazy[name] = target

    def names(self) -> list[str]:
        """Every registered name, sorted (plugins included)."""
        self._read_plugins()
        return sorted({*self._classes, *self._lazy})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> T:
        """The class registered as ``name``; an unknown name raises ``error`` listing the known ones."""
        if name in self._classes:
            return self._classes[name]
        self._read_plugins()
        target = self._lazy.get(name)
        if target is None:
            raise self.error(f"unknown {self.noun} {name!r}: choose one of {', '.join(self.names())}")
        self._classes[name] = self._load(name, target)
        del self._lazy[name]
        return self._classes[name]

    __getitem__ = get

    def classes(self) -> Iterator[T]:
        """Every registered class, by name (lazy ones and plugins are imported)."""
        for name in self.names():
            yield self.get(name)

    def _load(self, name: str, target: str | metadata.EntryPoint) -> T:
        try:
            if isinstance(target, str):
                module, _, attr = target.partition(":")
                return getattr(importlib.import_module(module), attr)
            return target.load()
        except (ImportError, AttributeError) as exc:
            where = target if isinstance(target, str) else f"{target.value} (package {_package(target)})"
            raise self.error(f"the {self.noun} {name!r} cannot be loaded from {where}: {exc}; "
                             "reinstall or uninstall the package that provides it") from exc

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            kind, _, name = point.name.partition(".")
            if kind == self.kind and name and name not in self._classes and name not in self._lazy:
                self._lazy[name] = point
                self._plugins.add(name)

    def forget_plugins(self) -> None:
        """Read the entry points again on the next lookup (a package was installed or removed)."""
        for name in self._plugins:
            self._classes.pop(name, None)
            self._lazy.pop(name, None)
        self._plugins.clear()
        self._plugins_read = False


def _package(point: metadata.EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    return dist.name if dist is not None else "unknown"
