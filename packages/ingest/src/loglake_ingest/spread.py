"""Spread a micro-batch's dates over the write tasks: each date in one task, big ones apart.

A batch writes one file per date it touches (unless a file outgrows the target size), so
all rows of a date must reach the same write task. ``repartition("event_date")`` does that
by hashing the date, and hashing 8 dates into 4 tasks put 348 k of a 500 k batch into one
task and almost nothing into two others: the write ran on one core of two. Here the
dates are packed into bins (largest first, each into the lightest bin), and every bin
gets its own task. Spark's hash partitioner picks the task, so each bin is keyed by an
integer whose hash lands on that bin's partition (:func:`partition_keys`).

Example:
    >>> from datetime import date
    >>> date_bins({date(2026, 1, 1): 900, date(2026, 1, 2): 500, date(2026, 1, 3): 400}, 2)
    {datetime.date(2026, 1, 1): 0, datetime.date(2026, 1, 2): 1, datetime.date(2026, 1, 3): 1}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Final

#: Seed of Spark's ``hash`` (``Murmur3Hash``), which its hash partitioner uses.
SPARK_HASH_SEED: Final = 42
_MASK: Final = 0xFFFFFFFF


def date_bins(rows_per_date: Mapping[date, int], slots: int) -> dict[date, int]:
    """Assign each date a bin ``0 .. min(len(dates), slots) - 1``, balancing the rows.

    Dates are placed largest first, each into the bin with the fewest rows so far
    (ties: the lower bin; equal dates: the earlier date first), so the result is the
    same for the same counts.
    """
    bins = max(1, min(len(rows_per_date), slots))
    loads = [0] * bins
    out: dict[date, int] = {}
    for day, rows in sorted(rows_per_date.items(), key=lambda kv: (-kv[1], kv[0])):
        chosen = min(range(bins), key=lambda b: (loads[b], b))
        out[day] = chosen
        loads[chosen] += rows
    return out


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK


def spark_hash_int(value: int, seed: int = SPARK_HASH_SEED) -> int:
    """Spark's ``hash()`` of an INT: Murmur3 x86 32-bit of the 4-byte value (signed)."""
    k1 = (value & _MASK) * 0xCC9E2D51 & _MASK
    k1 = _rotl32(k1, 15) * 0x1B873593 & _MASK
    h1 = (seed & _MASK) ^ k1
    h1 = (_rotl32(h1, 13) * 5 + 0xE6546B64) & _MASK
    h1 ^= 4  # the length in bytes
    h1 ^= h1 >> 16
    h1 = h1 * 0x85EBCA6B & _MASK
    h1 ^= h1 >> 13
    h1 = h1 * 0xC2B2AE35 & _MASK
    h1 ^= h1 >> 16
    return h1 - (1 << 32) if h1 & 0x80000000 else h1


def partition_keys(partitions: int) -> list[int]:
    """For each partition ``p``, the smallest INT ``k >= 0`` that Spark sends to ``p``.

    Spark's hash partitioning puts a row in ``pmod(hash(key), partitions)``.
    """
    keys: dict[int, int] = {}
    candidate = 0
    while len(keys) < partitions:
        keys.setdefault(spark_hash_int(candidate) % partitions, candidate)
        candidate += 1
    return [keys[p] for p in range(partitions)]
