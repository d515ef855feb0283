"""``by_identity``: remember a function's result for the very objects it was called with.

Choosing a deployment asks the same questions of one cost graph and one profile dozens of
times, from every partitioner and every device count (its hypergraph, its components, its
longest path, its priced simulator). Graphs and profiles are frozen, so a result computed once
stays right; hashing a graph by value would cost nearly as much as the answer, so the cache is
keyed by identity and keeps the arguments alive (an id is never reused while its entry lives).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")

RECENT_OBJECTS = 16  # entries each cached function keeps: the graphs (and profiles) in use


def by_identity(func: Callable[..., R]) -> Callable[..., R]:
    """``func`` cached on the identity of its positional arguments (no keyword arguments),
    for its ``RECENT_OBJECTS`` most recent argument tuples."""
    cache: OrderedDict[tuple[int, ...], tuple[tuple[Any, ...], R]] = OrderedDict()
    lock = threading.Lock()  # search and study may score from several threads

    @functools.wraps(func)
    def cached(*args: Any) -> R:
        key = tuple(map(id, args))
        with lock:
            hit = cache.get(key)
            if hit is not None and all(a is b for a, b in zip(hit[0], args, strict=True)):
                cache.move_to_end(key)
                return hit[1]
        value = func(*args)
        with lock:
            cache[key] = (args, value)
            while len(cache) > RECENT_OBJECTS:
                cache.popitem(last=False)
        return value

    return cached
