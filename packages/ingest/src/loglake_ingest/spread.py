"""Give each date of a micro-batch a write task of its own, computed before the count.

A batch writes one file per date it touches (unless a file outgrows the target size), so
all rows of a date must reach the same write task. The batch is shuffled once, right
after the de-dup, into ``DATE_SLOTS + 1`` partitions: a valid row goes to slot
``days since 1970-01-01 mod DATE_SLOTS`` of its ``event_date`` (up to ``DATE_SLOTS``
consecutive dates each get a slot of their own; more share slots, still one task per
date), a rejected row to the last slot (quarantine: one ``ingest_date`` per batch). The
count, raw and quarantine all read that one shuffle (``loglake_ingest.materialize``).
Spark's hash partitioner picks the partition, so each slot is keyed by an integer whose
hash lands on that slot's partition (:func:`partition_keys`); ``repartition("event_date")``
would hash the dates themselves, and hashing 8 dates into 4 tasks once put 348 k of a 500 k
batch into one task and almost nothing into two others.

Example:
    >>> date_slot(date(1970, 1, 17))
    0
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pyspark.sql import Column

#: Slots for the dates of one batch; the rejected rows get one more.
DATE_SLOTS: Final = 16
EPOCH: Final = date(1970, 1, 1)
#: Seed of Spark's ``hash`` (``Murmur3Hash``), which its hash partitioner uses.
SPARK_HASH_SEED: Final = 42
_MASK: Final = 0xFFFFFFFF


def date_slot(day: date, slots: int = DATE_SLOTS) -> int:
    """The slot of a valid row of ``day`` (what :func:`slot_key` computes in Spark)."""
    return (day - EPOCH).days % slots


def split_pieces(
    rows_by_date: Mapping[date, int], max_rows: int, slots: int = DATE_SLOTS
) -> dict[int, int]:
    """Tasks to write each slot with, for the slots whose date needs more than one file.

    A date with more than ``max_rows`` rows (the target file size) is written as several
    files anyway; spreading its rows over ``ceil(rows / max_rows)`` tasks writes those files
    at the same time instead of one after another in one task. A slot shared by several
    dates stays one task (each of its dates one file).
    """
    dates: dict[int, list[date]] = defaultdict(list)
    for day in rows_by_date:
        if isinstance(day, date):  # a valid row always has one; never fail a batch on it
            dates[date_slot(day, slots)].append(day)
    pieces = {}
    for slot, days in dates.items():
        if len(days) == 1 and rows_by_date[days[0]] > max_rows:
            pieces[slot] = -(-rows_by_date[days[0]] // max_rows)
    return pieces


def slot_key(valid: Column, day: Column, slots: int = DATE_SLOTS) -> Column:
    """An INT whose Spark hash puts the row into its slot of ``slots + 1`` partitions.

    ``valid`` rows go to the slot of ``day`` (:func:`date_slot`), the others to the last.
    """
    from pyspark.sql import functions as sf

    slot = sf.when(valid, sf.pmod(sf.datediff(day, sf.lit(EPOCH)), sf.lit(slots))).otherwise(
        sf.lit(slots)
    )
    keys = sf.array(*(sf.lit(k) for k in partition_keys(slots + 1)))
    return sf.element_at(keys, slot + 1)


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
