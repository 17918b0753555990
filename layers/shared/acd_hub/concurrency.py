"""Work side by side in threads: the one place the hub starts threads.

The stats function (``functions/stats/app.py``) runs its two aggregators on each stream batch
at once, so the batch takes as long as the slower of them, not the sum (the function's 60 s
timeout covers either one's worst batch, as it did when each had a function of its own). Their
work is network-bound (DynamoDB requests), so threads overlap it despite the GIL; boto3 clients
are thread-safe, and each aggregator keeps its own state.

:func:`side_by_side` is looked up on this module at each call: the N-shard stream of the tests
(``acd_devkit/memory_stream.py``) puts its seeded scheduler's version here while it runs, so the
two threads' DynamoDB requests stay one seeded interleaving with the other shards' readers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any


def in_threads[T](work: Sequence[Callable[[], T]]) -> list[T]:
    """Run each callable in a thread of its own and wait for all; their results in order. If
    any raised, the first one's exception (in order) is raised once all are done."""
    results: list[T | None] = [None] * len(work)
    errors: list[BaseException | None] = [None] * len(work)

    def run(index: int) -> None:
        try:
            results[index] = work[index]()
        except BaseException as exc:  # handed to the caller's thread below
            errors[index] = exc

    parent = threading.current_thread().name
    threads = [
        threading.Thread(target=run, args=(index,), name=f"{parent}.{index}", daemon=True)
        for index in range(len(work))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results  # type: ignore[return-value]  # every slot was filled: no error was raised


def side_by_side[T](work: Sequence[Callable[[], T]]) -> list[T]:
    """What the hub calls: :func:`in_threads` (replaced while a seeded test scheduler runs)."""
    return in_threads(work)


def each[V, T](read: Callable[[V], T], values: Sequence[V], readers: int) -> list[T]:
    """``read`` of each value, in their order: ``readers`` shares of the values (every
    ``readers``-th one) read side by side, each share's one after another. A single share is
    read in this thread."""
    shares = [values[start::readers] for start in range(min(readers, len(values)))]
    if len(shares) < 2:
        return [read(value) for value in values]

    def reader(share: Sequence[V]) -> Callable[[], list[T]]:
        return lambda: [read(value) for value in share]

    found = side_by_side([reader(share) for share in shares])
    results: list[Any] = [None] * len(values)
    for start, share_found in enumerate(found):
        results[start :: len(shares)] = share_found
    return results
