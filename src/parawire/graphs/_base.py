"""Contract of a graph generator: seeded sampling of an undirected graph on vertices 0..n-1.

A generator is a frozen dataclass of its parameters (each field typed and documented) with a
``sample(seed)`` method. The vertex numbering is the generator's index order (the ring order
for ``ws`` and ``dp``), which the DAG rules use. Same parameters and seed give the same graph in
any process: randomness comes only from ``seed``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import networkx as nx

from parawire.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class GraphGenerator(ABC):
    """Base class; subclasses add parameter fields and implement ``sample``."""

    name: ClassVar[str] = ""
    n: int = 40  # number of vertices (the EDGE'23 paper uses 40)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"generator {self.name!r}: n must be >= 1, got {self.n}")
        self.check()

    def check(self) -> None:  # noqa: B027  (optional hook, not abstract)
        """Raise ``ConfigError`` for out-of-range parameters (override to add rules)."""

    def size_unit(self) -> int:
        """Vertex counts this generator's graphs come in multiples of (fb staging splits ``n``
        into stages of such sizes); 1 unless a parameter ties ``n`` to a width."""
        return 1

    @abstractmethod
    def sample(self, seed: int) -> nx.Graph:
        """Undirected simple graph on vertices ``0..n-1`` (every vertex present)."""

    def params(self) -> dict[str, Any]:
        """Parameter values as a plain dict (for provenance)."""
        return dataclasses.asdict(self)


def require(cond: bool, generator: str, message: str) -> None:
    """Raise a ``ConfigError`` about ``generator`` unless ``cond`` holds."""
    if not cond:
        raise ConfigError(f"generator {generator!r}: {message}")
