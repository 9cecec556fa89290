"""The ``foreachBatch`` writer: one micro-batch -> raw, quarantine, reconciliation row.

Each write is a Delta append whose commit carries a marker with the query's app id
(stable per checkpoint) and the batch id (``loglake_ingest.commits``). When Spark runs a
batch again (after a crash, or after it failed in this process), the writer leaves out
every table whose commits already hold that batch, so each Kafka record lands exactly
once in raw or in quarantine, and the reconciliation row is written once.

The batch is computed once, into one shuffle that puts each date's valid rows in one
partition and the rejected rows in another (``loglake_ingest.spread``), so the de-dup
operator upstream runs once per batch, later steps plan over plain rows, and raw is
written one file per date touched with no further shuffle. The count, raw and
quarantine read that shuffle's files (``loglake_ingest.materialize.shuffled_once``), each
write only the partitions of its own rows (``split_partitions``); a date above the
target file size, written as several files, is read by as many tasks, which write them
at the same time.

Example:
    >>> writer = BatchWriter(spark, config)  # doctest: +SKIP
    >>> query = stream.writeStream.foreachBatch(writer).start()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loglake_ingest.commits import commit_marker, last_committed_batch
from loglake_ingest.dedup import DEDUP_KEY, DEDUP_TIME
from loglake_ingest.errors import IngestError
from loglake_ingest.materialize import release_shuffle, shuffled_once, split_partitions
from loglake_ingest.reconcile import BatchCounts
from loglake_ingest.source import Offsets, batch_offsets, query_id, records_in_range
from loglake_ingest.spread import DATE_SLOTS, slot_key, split_pieces
from loglake_ingest.tables import RAW_PARTITION, batches_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from loglake_ingest.config import IngestConfig
    from loglake_ingest.progress import ProgressRecorder

logger = logging.getLogger(__name__)


@dataclass
class RunTotals:
    """Running totals of one run of the job (this process only)."""

    batches: int = 0
    records_read: int = 0
    valid_written: int = 0
    quarantined: int = 0
    duplicates_dropped: int = 0
    first_batch_id: int | None = None
    last_batch_id: int | None = None
    dirty_dates: set[Any] = field(default_factory=set)

    def add(self, counts: BatchCounts) -> None:
        """Add one batch."""
        self.batches += 1
        self.records_read += counts.records_read
        self.valid_written += counts.valid_written
        self.quarantined += counts.quarantined
        self.duplicates_dropped += counts.duplicates_dropped
        if self.first_batch_id is None:
            self.first_batch_id = counts.batch_id
        self.last_batch_id = counts.batch_id


class _StepTimer:
    """Milliseconds spent in each step of a batch (logged with the batch)."""

    def __init__(self) -> None:
        self.ms: dict[str, int] = {}

    def run(self, name: str, fn: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.ms[name] = round((time.perf_counter() - t0) * 1000)

    def __str__(self) -> str:
        return " ".join(f"{k} {v}" for k, v in self.ms.items())


def _utc(value: datetime | None) -> datetime | None:
    """PySpark returns naive local-time datetimes; make them aware UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _offsets_json(offsets: Offsets) -> str | None:
    if not offsets:
        return None
    return json.dumps({t: {str(p): o for p, o in sorted(v.items())} for t, v in offsets.items()})


def _by_date(batch: DataFrame) -> DataFrame:
    """The batch computed once, each date's valid rows in one partition (``spread``).

    The de-dup's key and time columns end at the de-dup: neither table keeps them, so
    the shuffle by date does not carry them.
    """
    from pyspark.sql import functions as sf

    key = slot_key(sf.col("reason_code").isNull(), sf.col(RAW_PARTITION))
    return shuffled_once(batch.drop(DEDUP_KEY, DEDUP_TIME), DATE_SLOTS + 1, key)


def _run_together(writes: list[tuple[Any, DataFrame]], batch_id: int) -> None:
    """Run the table writes of a batch at the same time (independent Delta commits).

    ``writes`` pairs each write with the rows it reads. The quarantine append is mostly
    driver work (snapshot, commit) and overlaps the raw append's tasks. A failure of
    either is raised after both finished; the batch then runs again and the write that
    committed is left out (``loglake_ingest.commits``).
    """
    if len(writes) < 2:
        for write, rows in writes:
            write(rows, batch_id)
        return
    with ThreadPoolExecutor(max_workers=len(writes), thread_name_prefix="loglake-write") as pool:
        for future in [pool.submit(write, rows, batch_id) for write, rows in writes]:
            future.result()


def _in_background(fn: Any, *args: Any) -> Future[Any]:
    """Start ``fn(*args)`` in a thread of its own; its result (or error) is the future's."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loglake-check")
    try:
        return pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=False)


class BatchWriter:
    """Callable for ``DataStreamWriter.foreachBatch``.

    Args:
        spark: the session.
        config: the job's configuration.
        progress: control-table recorder, or ``None`` to skip control-table updates.
        read_offsets: whether to read each batch's Kafka offsets from the checkpoint
            (off for non-Kafka sources in tests; ``records_read`` is then the rows seen).
        query_id: the streaming query's id; by default read from the checkpoint on the
            first batch (give it to write batches outside a streaming query).
    """

    def __init__(
        self,
        spark: SparkSession,
        config: IngestConfig,
        progress: ProgressRecorder | None = None,
        *,
        read_offsets: bool = True,
        query_id: str | None = None,
    ) -> None:
        self.spark = spark
        self.config = config
        self.layout = config.layout
        self.progress = progress
        self.read_offsets = read_offsets
        self.totals = RunTotals()
        self.counts: dict[int, BatchCounts] = {}
        self.query_id = query_id
        self._lock = threading.Lock()
        #: highest batch id this writer has started (a batch at or below it is run again)
        self._last_started: int | None = None

    def _query_id(self) -> str:
        """The running query's id, read from its checkpoint on the first batch."""
        if self.query_id is None:
            found = query_id(self.spark, self.config.checkpoint_uri)
            if found is None:
                raise IngestError(
                    f"the checkpoint {self.config.checkpoint_uri} has no query id "
                    "(metadata file missing or unreadable) while its query runs; batches "
                    "cannot be written exactly once without it. Check that nothing else "
                    "writes to or cleans that folder"
                )
            self.query_id = found
        return self.query_id

    @property
    def app_id(self) -> str:
        """The running query's app id in the commit markers."""
        return self.config.app_id(self._query_id())

    def _start(self, batch_id: int) -> bool:
        """Note that ``batch_id`` starts; whether it may have reached a table before.

        The first batch of a writer may be the last one before a crash or a stop, and a
        batch id at or below one already started is Spark running it again. Any other
        batch is new.
        """
        last = self._last_started
        self._last_started = batch_id if last is None else max(batch_id, last)
        return last is None or batch_id <= last

    def _tables_holding(self, batch_id: int) -> frozenset[str]:
        """The tables whose commits already hold ``batch_id`` of this query."""
        layout, app_id = self.layout, self.app_id
        done = set()
        for path in (layout.raw_events, layout.raw_quarantine, layout.ingest_batches):
            last = last_committed_batch(self.spark, path, app_id)
            if last is not None and last >= batch_id:
                done.add(path)
        if done:
            logger.info(
                "batch %d runs again; %s already hold it and are left out",
                batch_id,
                ", ".join(sorted(done)),
            )
        return frozenset(done)

    # ------------------------------------------------------------------ entry point
    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        """Write one micro-batch (idempotent per ``batch_id``)."""
        started = datetime.now(UTC)
        steps = _StepTimer()
        query = self._query_id()  # before any work: the writes need it
        again = self._start(batch_id)
        start, end = (
            steps.run("offsets", batch_offsets, self.spark, self.config.checkpoint_uri, batch_id)
            if self.read_offsets
            else ({}, {})
        )
        # which tables hold a batch run again does not depend on its rows: read the
        # tables' commits while the batch is computed (mostly waiting on small jobs)
        holding = _in_background(self._tables_holding, batch_id) if again else None
        batch = _by_date(batch_df)
        try:
            # the count is the batch's first action: it runs the de-dup and the shuffle
            counts, rows_by_date = steps.run("compute", self._count, batch, batch_id, start, end)
            counts.check()
            if counts.records_read == 0 and counts.valid_written + counts.quarantined == 0:
                return
            done = steps.run("check", holding.result) if holding else frozenset()
            # a date above the target file size is written as several files: by as many tasks
            pieces = split_pieces(rows_by_date, self.config.max_records_per_file)
            writes = [
                (write, source)
                for write, source, rows, path in (
                    (
                        self._write_raw,
                        split_partitions(batch, pieces, only=range(DATE_SLOTS)),
                        counts.valid_written,
                        self.layout.raw_events,
                    ),
                    (
                        self._write_quarantine,
                        split_partitions(batch, {}, only=(DATE_SLOTS,)),
                        counts.quarantined,
                        self.layout.raw_quarantine,
                    ),
                )
                if rows and path not in done
            ]
            steps.run("raw+quarantine", _run_together, writes, batch_id)
            if self.layout.ingest_batches not in done:
                steps.run("batch_row", self._write_batch_row, counts, start, end, started)
        finally:
            steps.run("release", release_shuffle, batch)
        if self.progress is not None:
            dirtied = self.progress.record(counts, started, query_id=query)
            self.totals.dirty_dates.update(dirtied)
        with self._lock:
            self.counts[batch_id] = counts
            self.totals.add(counts)
        logger.info(
            "batch %d: read %d, valid %d, quarantined %d, duplicates %d, dates %s (ms: %s)",
            batch_id,
            counts.records_read,
            counts.valid_written,
            counts.quarantined,
            counts.duplicates_dropped,
            ",".join(d.isoformat() for d in counts.event_dates) or "-",
            steps,
        )

    # ------------------------------------------------------------------ steps
    def _count(
        self, batch: DataFrame, batch_id: int, start: Offsets, end: Offsets
    ) -> tuple[BatchCounts, dict[Any, int]]:
        """The batch's counts and its valid rows per event date.

        The counts: rows valid and rejected, event dates, latest event time.
        """
        from pyspark.sql import functions as sf

        valid = sf.col("reason_code").isNull()
        groups = (
            batch.groupBy(valid.alias("valid"), sf.when(valid, sf.col("event_date")).alias("day"))
            .agg(
                sf.count(sf.lit(1)).alias("rows"),
                sf.max(sf.when(valid, sf.col("event_time"))).alias("max_event_time"),
            )
            .collect()
        )
        per_date = {g["day"]: int(g["rows"]) for g in groups if g["valid"]}
        valid_n = sum(per_date.values())
        invalid_n = sum(int(g["rows"]) for g in groups if not g["valid"])
        latest = [g["max_event_time"] for g in groups if g["max_event_time"] is not None]
        offsets_known = bool(end)
        counts = BatchCounts(
            batch_id=batch_id,
            records_read=records_in_range(start, end) if offsets_known else valid_n + invalid_n,
            valid_written=valid_n,
            quarantined=invalid_n,
            max_event_time=_utc(max(latest)) if latest else None,
            event_dates=tuple(sorted(per_date)),
            offsets_known=offsets_known,
        )
        return counts, per_date

    def _append(self, df: DataFrame, path: str, batch_id: int) -> None:
        (
            df.write.format("delta")
            .mode("append")
            .option("userMetadata", commit_marker(self.app_id, batch_id))
            .option("maxRecordsPerFile", self.config.max_records_per_file)
            .save(path)
        )

    def _write_raw(self, batch: DataFrame, batch_id: int) -> None:
        """Append the valid rows: each date is in one partition of the batch already.

        A date above the target file size is in several (``split_partitions``).
        """
        from loglake_ingest.rows import raw_rows

        rows = raw_rows(batch.filter("reason_code IS NULL"))
        self._append(rows, self.layout.raw_events, batch_id)

    def _write_quarantine(self, batch: DataFrame, batch_id: int) -> None:
        """Append the rejected rows: all in the batch's last partition (one ingest date)."""
        from loglake_ingest.rows import quarantine_rows

        rows = quarantine_rows(batch.filter("reason_code IS NOT NULL"))
        self._append(rows, self.layout.raw_quarantine, batch_id)

    def _write_batch_row(
        self, counts: BatchCounts, start: Offsets, end: Offsets, started: datetime
    ) -> None:
        row = (
            self.app_id,
            counts.batch_id,
            _offsets_json(start),
            _offsets_json(end),
            counts.records_read,
            counts.valid_written,
            counts.quarantined,
            counts.duplicates_dropped,
            counts.max_event_time,
            list(counts.event_dates),
            started,
            datetime.now(UTC),
        )
        # literals over one JVM row: a Python-made DataFrame cost 0.4-0.6 s more per batch
        from pyspark.sql import functions as sf

        fields = batches_schema().fields
        values = [
            sf.lit(v).cast(f.dataType).alias(f.name) for v, f in zip(row, fields, strict=True)
        ]
        df = self.spark.range(1, numPartitions=1).select(*values)
        self._append(df, self.layout.ingest_batches, counts.batch_id)
