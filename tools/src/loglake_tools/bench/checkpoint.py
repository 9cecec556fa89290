"""Read a Spark streaming checkpoint: which Kafka offsets each micro-batch covered, when.

Spark writes, per micro-batch ``N``, ``offsets/N`` when the batch is planned (a version
line, a metadata JSON line with ``batchTimestampMs``, then one JSON line of end offsets per
source, ``{"topic": {"0": 123, ...}}``) and ``commits/N`` once its sink has committed.
The commit file's modification time is therefore the moment the batch's rows became
visible, whatever the sink: the benchmarks read drain times and per-event latency from
it for our job and the bare Spark baseline alike.

Example:
    >>> batches = read_batches(Path("/tmp/lake/_checkpoints/ingest"))  # doctest: +SKIP
    >>> batches[-1].end_offsets  # doctest: +SKIP
    {'events': {0: 8334, 1: 8333, ...}}
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchInfo:
    """One micro-batch of a streaming query.

    Attributes:
        batch_id: the batch number.
        trigger_ms: ``batchTimestampMs`` of the batch (epoch ms), when recorded.
        planned_at: modification time of ``offsets/N`` (epoch seconds).
        committed_at: modification time of ``commits/N`` (``None``: not committed).
        end_offsets: topic -> partition -> first offset *not* in this or earlier batches.
    """

    batch_id: int
    trigger_ms: int | None
    planned_at: float
    committed_at: float | None
    end_offsets: dict[str, dict[int, int]]

    @property
    def started_at(self) -> float:
        """When the batch started (its trigger time, else when its offsets were written)."""
        return self.trigger_ms / 1000 if self.trigger_ms is not None else self.planned_at


def _parse_offsets(text: str) -> tuple[int | None, dict[str, dict[int, int]]]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    trigger_ms: int | None = None
    ends: dict[str, dict[int, int]] = {}
    if len(lines) >= 2:
        try:
            meta: dict[str, Any] = json.loads(lines[1])
            raw_ts = meta.get("batchTimestampMs")
            trigger_ms = int(raw_ts) if raw_ts is not None else None
        except (ValueError, TypeError):
            trigger_ms = None
    for line in lines[2:]:
        try:
            source = json.loads(line)
        except ValueError:
            continue
        if not isinstance(source, dict):
            continue
        for topic, parts in source.items():
            if isinstance(parts, dict):
                ends.setdefault(topic, {}).update({int(p): int(o) for p, o in parts.items()})
    return trigger_ms, ends


def read_batches(checkpoint: Path) -> list[BatchInfo]:
    """Every planned batch of the query whose checkpoint folder is ``checkpoint``, in order."""
    offsets_dir = checkpoint / "offsets"
    commits_dir = checkpoint / "commits"
    out: list[BatchInfo] = []
    if not offsets_dir.is_dir():
        return out
    for path in offsets_dir.iterdir():
        if not path.name.isdigit():
            continue
        batch_id = int(path.name)
        trigger_ms, ends = _parse_offsets(path.read_text(encoding="utf-8", errors="replace"))
        commit = commits_dir / path.name
        out.append(
            BatchInfo(
                batch_id=batch_id,
                trigger_ms=trigger_ms,
                planned_at=path.stat().st_mtime,
                committed_at=commit.stat().st_mtime if commit.exists() else None,
                end_offsets=ends,
            )
        )
    out.sort(key=lambda b: b.batch_id)
    return out


def batch_sizes(batches: list[BatchInfo]) -> list[int]:
    """Records per batch (difference of end offsets with the previous batch)."""
    sizes = []
    previous: dict[tuple[str, int], int] = {}
    for b in batches:
        n = 0
        for topic, parts in b.end_offsets.items():
            for p, end in parts.items():
                n += end - previous.get((topic, p), 0)
                previous[(topic, p)] = end
        sizes.append(n)
    return sizes


def drain_seconds(batches: list[BatchInfo]) -> float | None:
    """Start of the first batch with records to the commit of the last one."""
    busy = [
        b for b, n in zip(batches, batch_sizes(batches), strict=True) if n > 0 and b.committed_at
    ]
    if not busy:
        return None
    return max(b.committed_at or 0.0 for b in busy) - min(b.started_at for b in busy)
