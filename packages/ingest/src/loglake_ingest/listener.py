"""One structured log line per batch, Kafka lag, and the post-batch reconciliation check.

Spark does not commit offsets back to Kafka, so consumer-group lag tools see nothing;
this listener computes the lag per partition from each batch's progress (latest offset
minus end offset) and logs it with the batch's throughput and counters as one JSON line
on the ``loglake_ingest.progress`` logger.

It also compares each batch's stored counters with the engine's figures
(:func:`loglake_ingest.reconcile.verify_progress`) and hands a mismatch to ``on_error``,
which stops the query.

Example:
    >>> spark.streams.addListener(IngestListener(writer.counts, on_error=print))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from pyspark.sql.streaming import StreamingQueryListener

from loglake_ingest.dedup import OBSERVED_INPUT
from loglake_ingest.errors import ReconciliationError
from loglake_ingest.reconcile import BatchCounts, EngineFigures, verify_progress
from loglake_ingest.source import parse_offsets

logger = logging.getLogger(__name__)
#: Structured per-batch lines go here (one JSON object per line).
progress_logger = logging.getLogger("loglake_ingest.progress")


def kafka_lag(sources: list[Any]) -> dict[str, int]:
    """Records behind the latest offset per ``topic-partition`` after the batch."""
    lag: dict[str, int] = {}
    for source in sources:
        latest_text = getattr(source, "latestOffset", None)
        end_text = getattr(source, "endOffset", None)
        if not latest_text or not end_text:
            continue
        try:
            latest, end = parse_offsets(latest_text), parse_offsets(end_text)
        except (ValueError, AttributeError):
            continue
        for topic, parts in latest.items():
            for part, offset in parts.items():
                lag[f"{topic}-{part}"] = max(0, offset - end.get(topic, {}).get(part, 0))
    return lag


def engine_figures(progress: Any) -> EngineFigures:
    """The engine's own figures of a batch, from a ``StreamingQueryProgress``."""
    observed = (progress.observedMetrics or {}).get(OBSERVED_INPUT)
    input_rows = int(observed["rows"]) if observed is not None else None
    dropped_dups: int | None = None
    dropped_late = 0
    for op in progress.stateOperators or []:
        dropped_late += int(op.numRowsDroppedByWatermark or 0)
        metrics: Mapping[str, Any] = op.customMetrics or {}
        if "numDroppedDuplicateRows" in metrics:
            dropped_dups = (dropped_dups or 0) + int(metrics["numDroppedDuplicateRows"])
    return EngineFigures(
        batch_id=int(progress.batchId),
        input_rows=input_rows,
        dropped_duplicates=dropped_dups,
        dropped_by_watermark=dropped_late,
    )


def progress_record(progress: Any, counts: BatchCounts | None) -> dict[str, Any]:
    """The structured record logged for one batch."""
    duration = dict(progress.durationMs or {})
    record: dict[str, Any] = {
        "event": "ingest_batch",
        "batch_id": int(progress.batchId),
        "timestamp": progress.timestamp,
        "rows_in": int(progress.numInputRows),
        "rows_in_per_s": round(float(progress.inputRowsPerSecond or 0.0), 1),
        "rows_processed_per_s": round(float(progress.processedRowsPerSecond or 0.0), 1),
        "batch_ms": int(duration.get("triggerExecution", 0)),
        "write_ms": int(duration.get("addBatch", 0)),
        "kafka_lag": kafka_lag(list(progress.sources or [])),
    }
    if counts is not None:
        record.update(
            rows_out=counts.valid_written,
            quarantined=counts.quarantined,
            duplicates=counts.duplicates_dropped,
            records_read=counts.records_read,
            event_dates=[d.isoformat() for d in counts.event_dates],
        )
    record["total_lag"] = sum(record["kafka_lag"].values())
    return record


class IngestListener(StreamingQueryListener):
    """Logs each batch and checks it reconciles.

    Args:
        counts: batch id -> counters, filled by the ``BatchWriter``.
        on_error: called with a ``ReconciliationError`` when a batch does not reconcile.
        query_id: only events of this query are handled (``None``: all).
    """

    def __init__(
        self,
        counts: Mapping[int, BatchCounts],
        on_error: Callable[[ReconciliationError], None],
        query_id: str | None = None,
    ) -> None:
        self.counts = counts
        self.on_error = on_error
        self.query_id = query_id
        self.records: list[dict[str, Any]] = []

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 (Spark's name)
        """Log the start."""
        logger.info("ingest query %s started (run %s)", event.id, event.runId)

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802 (Spark's name)
        """Log the batch and check that it reconciles."""
        progress = event.progress
        if self.query_id is not None and str(progress.id) != self.query_id:
            return
        try:
            counts = self.counts.get(int(progress.batchId))
            record = progress_record(progress, counts)
            self.records.append(record)
            progress_logger.info(json.dumps(record, default=str, sort_keys=True))
            if counts is not None:
                problems = verify_progress(counts, engine_figures(progress))
                if problems:
                    self.on_error(
                        ReconciliationError(
                            f"batch {counts.batch_id} does not reconcile: " + "; ".join(problems)
                        )
                    )
        except Exception:  # a listener must never kill the listener bus
            logger.exception("could not report batch %s", getattr(progress, "batchId", "?"))

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802 (Spark's name)
        """Nothing to report while idle."""
        return

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802 (Spark's name)
        """Log the end."""
        if event.exception:
            logger.error("ingest query %s stopped with an error", event.id)
        else:
            logger.info("ingest query %s stopped", event.id)
