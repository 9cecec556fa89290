"""Per-batch reconciliation: no record read from Kafka goes unaccounted for.

For every micro-batch::

    records_read = valid_written + quarantined + duplicates_dropped

``records_read`` is the number of Kafka offsets the batch covered (from the query's
offset log), ``valid_written`` and ``quarantined`` are the rows the batch wrote, and
``duplicates_dropped`` is the remainder. The remainder is then checked against the
engine's own figures once the batch is reported (see :func:`verify_progress`): the rows
that entered the de-dup operator must equal ``records_read``, the operator's dropped
duplicates must equal ``duplicates_dropped``, and it must have dropped nothing for being
behind the watermark. Any mismatch stops the query with :class:`ReconciliationError`.

Example:
    >>> c = BatchCounts(batch_id=3, records_read=10, valid_written=7, quarantined=2)
    >>> c.duplicates_dropped
    1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from loglake_ingest.errors import ReconciliationError


@dataclass(frozen=True)
class BatchCounts:
    """What one micro-batch read and wrote.

    Attributes:
        batch_id: the streaming batch id.
        records_read: Kafka records the batch covered.
        valid_written: rows written to raw/events.
        quarantined: rows written to raw/quarantine.
        max_event_time: latest event time among the valid rows.
        event_dates: event dates the valid rows landed in.
        offsets_known: whether ``records_read`` came from the offset log.
    """

    batch_id: int
    records_read: int
    valid_written: int
    quarantined: int
    max_event_time: datetime | None = None
    event_dates: tuple[date, ...] = field(default_factory=tuple)
    offsets_known: bool = True

    @property
    def duplicates_dropped(self) -> int:
        """Records read that were neither written nor quarantined: the dropped duplicates."""
        return self.records_read - self.valid_written - self.quarantined

    def check(self) -> None:
        """Raise if the batch wrote more rows than it read.

        Raises:
            ReconciliationError: naming the batch and the numbers.
        """
        if self.duplicates_dropped < 0:
            raise ReconciliationError(
                f"batch {self.batch_id}: wrote {self.valid_written} valid + {self.quarantined} "
                f"quarantined rows but Kafka offsets cover only {self.records_read} records; "
                "the checkpoint's offset log does not match the data (was the topic recreated "
                "or is it transactional/compacted?). Start from a new --checkpoint."
            )

    def counters(self) -> dict[str, int]:
        """The counters stored in the control table."""
        return {
            "records_read": self.records_read,
            "valid_written": self.valid_written,
            "quarantined": self.quarantined,
            "duplicates_dropped": self.duplicates_dropped,
        }


@dataclass(frozen=True)
class EngineFigures:
    """What Spark reported for a batch (``StreamingQueryProgress``)."""

    batch_id: int
    input_rows: int | None
    dropped_duplicates: int | None
    dropped_by_watermark: int


def verify_progress(counts: BatchCounts, engine: EngineFigures) -> list[str]:
    """Compare a batch's stored counters with the engine's figures; return the mismatches.

    An empty list means the batch reconciles.
    """
    problems: list[str] = []
    if engine.dropped_by_watermark:
        problems.append(
            f"{engine.dropped_by_watermark} rows were dropped as behind the watermark "
            "(they are lost for raw; the de-dup time clamp should make this impossible)"
        )
    offsets_disagree = (
        counts.offsets_known
        and engine.input_rows is not None
        and engine.input_rows != counts.records_read
    )
    if offsets_disagree:
        problems.append(
            f"the source delivered {engine.input_rows} rows but the offsets cover "
            f"{counts.records_read}"
        )
    if engine.dropped_duplicates is not None and engine.input_rows is not None:
        written = counts.valid_written + counts.quarantined
        if engine.input_rows - engine.dropped_duplicates != written:
            problems.append(
                f"{engine.input_rows} rows in - {engine.dropped_duplicates} duplicates "
                f"!= {written} rows written"
            )
    return problems


def raise_on_mismatch(counts: BatchCounts, engine: EngineFigures) -> None:
    """Raise :class:`ReconciliationError` when :func:`verify_progress` finds a mismatch."""
    problems = verify_progress(counts, engine)
    if problems:
        raise ReconciliationError(
            f"batch {counts.batch_id} does not reconcile: " + "; ".join(problems)
        )
