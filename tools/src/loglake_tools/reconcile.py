"""Read the lake back without Spark, and check that every produced event is accounted for.

The demo, the report and the end-to-end tests read the Delta tables with ``deltalake``
(delta-rs) and ``pyarrow``: it takes a second where a SparkSession takes twenty, and
it is a reader independent of the writer. The same code reads a ``file://`` lake and an
``s3://``/``s3a://`` lake behind any S3 API server (the local stack's s3proxy included).

The reconciliation compares the producer's summary (what was sent, per kind) with what
the lake holds (rows in raw and quarantine, and the per-batch counters ingest stores)::

    produced = raw rows + quarantined rows + duplicates dropped

Example:
    >>> reader = LakeReader.open("/tmp/lake")  # doctest: +SKIP
    >>> counts = lake_counts(reader)  # doctest: +SKIP
    >>> counts.raw_rows, counts.quarantined  # doctest: +SKIP
    (988012, 6021)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Final

from loglake_core.layout import LakeLayout

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads

log = logging.getLogger(__name__)

ENV_S3_ENDPOINT: Final = "LOGLAKE_S3_ENDPOINT"
ENV_AWS_REGION: Final = "AWS_REGION"

#: Counters of raw/_ingest_batches that the reconciliation sums (missing ones count as None).
BATCH_COUNTERS: Final = ("records_read", "valid_written", "quarantined", "duplicates_dropped")


@dataclass(frozen=True)
class LakeReader:
    """Reads the Delta tables of one lake with delta-rs.

    Attributes:
        layout: the lake's table URIs.
        storage_options: delta-rs object-store options (endpoint and keys for S3).
    """

    layout: LakeLayout
    storage_options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, uri: str, *, s3_endpoint: str | None = None) -> LakeReader:
        """Reader for the lake at ``uri`` (a path, ``file://``, ``s3://`` or ``s3a://``).

        Args:
            uri: the lake's base URI.
            s3_endpoint: S3 API endpoint for an S3 lake; ``$LOGLAKE_S3_ENDPOINT`` when
                ``None``; AWS itself when neither is set.
        """
        layout = LakeLayout.from_uri(uri)
        return cls(layout=layout, storage_options=storage_options(layout, s3_endpoint))

    def delta_uri(self, table_uri: str) -> str:
        """The URI delta-rs understands for ``table_uri`` (``s3a://`` read as ``s3://``)."""
        if table_uri.startswith("s3a://"):
            return "s3://" + table_uri[len("s3a://") :]
        return table_uri

    def exists(self, table_uri: str) -> bool:
        """Whether a Delta table exists at ``table_uri``."""
        from deltalake import DeltaTable

        return bool(
            DeltaTable.is_deltatable(
                self.delta_uri(table_uri), storage_options=dict(self.storage_options)
            )
        )

    def dataset(self, table_uri: str) -> pads.Dataset | None:
        """The current snapshot of a Delta table as a pyarrow dataset, ``None`` if absent."""
        from deltalake import DeltaTable

        if not self.exists(table_uri):
            log.debug("no Delta table at %s", table_uri)
            return None
        table = DeltaTable(self.delta_uri(table_uri), storage_options=dict(self.storage_options))
        return table.to_pyarrow_dataset()

    def table(self, table_uri: str, columns: list[str] | None = None) -> pa.Table | None:
        """Read a Delta table (optionally only ``columns``), ``None`` if it does not exist."""
        ds = self.dataset(table_uri)
        if ds is None:
            return None
        if columns is not None:
            columns = [c for c in columns if c in ds.schema.names]
        return ds.to_table(columns=columns)


def storage_options(layout: LakeLayout, s3_endpoint: str | None = None) -> dict[str, str]:
    """delta-rs storage options for ``layout``: none for a local lake, endpoint + keys for S3.

    Example:
        >>> from loglake_core.layout import LakeLayout
        >>> storage_options(LakeLayout.from_uri("/tmp/lake"))
        {}
    """
    if layout.is_local:
        return {}
    opts: dict[str, str] = {"AWS_REGION": os.environ.get(ENV_AWS_REGION, "us-east-1")}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if os.environ.get(key):
            opts[key] = os.environ[key]
    endpoint = s3_endpoint or os.environ.get(ENV_S3_ENDPOINT)
    if endpoint:
        opts["AWS_ENDPOINT_URL"] = endpoint
        opts["AWS_ALLOW_HTTP"] = str(endpoint.startswith("http://")).lower()
        opts["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
        opts.setdefault("AWS_ACCESS_KEY_ID", "testing")
        opts.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return opts


@dataclass(frozen=True)
class LakeCounts:
    """What the lake holds, counted from its tables.

    Attributes:
        raw_rows: rows in raw/events.
        raw_distinct_ids: distinct ``event_id`` values in raw/events (equal to
            ``raw_rows`` when raw holds no duplicate).
        raw_by_date: raw rows per ``event_date``.
        quarantined: rows in raw/quarantine.
        quarantine_by_reason: quarantined rows per ``reason_code``.
        batches: rows in raw/_ingest_batches (micro-batches committed).
        counters: sums of the `BATCH_COUNTERS` over all batches (``None`` when the
            table or the column is missing).
    """

    raw_rows: int = 0
    raw_distinct_ids: int = 0
    raw_by_date: dict[date, int] = field(default_factory=dict)
    quarantined: int = 0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    counters: dict[str, int | None] = field(default_factory=dict)

    @property
    def duplicates_dropped(self) -> int | None:
        """Duplicates ingest dropped (from its batch counters)."""
        return self.counters.get("duplicates_dropped")

    @property
    def records_read(self) -> int | None:
        """Kafka records ingest read (from its batch counters)."""
        return self.counters.get("records_read")


def lake_counts(reader: LakeReader) -> LakeCounts:
    """Count the rows of raw/events, raw/quarantine and the ingest batch counters."""
    import pyarrow.compute as pc

    layout = reader.layout
    raw = reader.table(layout.raw_events, columns=["event_id", "event_date"])
    raw_rows = raw_distinct = 0
    by_date: dict[date, int] = {}
    if raw is not None and raw.num_rows:
        raw_rows = raw.num_rows
        raw_distinct = int(pc.count_distinct(raw["event_id"]).as_py())
        grouped = raw.group_by("event_date").aggregate([("event_id", "count")])
        by_date = {
            d: int(n)
            for d, n in zip(
                grouped["event_date"].to_pylist(),
                grouped["event_id_count"].to_pylist(),
                strict=True,
            )
        }
    quarantine = reader.table(layout.raw_quarantine, columns=["reason_code"])
    reasons: dict[str, int] = {}
    if quarantine is not None and quarantine.num_rows:
        grouped = quarantine.group_by("reason_code").aggregate([("reason_code", "count")])
        reasons = {
            str(code): int(n)
            for code, n in zip(
                grouped["reason_code"].to_pylist(),
                grouped["reason_code_count"].to_pylist(),
                strict=True,
            )
        }
    batches = reader.table(layout.ingest_batches)
    counters: dict[str, int | None] = dict.fromkeys(BATCH_COUNTERS)
    n_batches = 0
    if batches is not None:
        n_batches = batches.num_rows
        for name in BATCH_COUNTERS:
            if name in batches.column_names:
                counters[name] = int(pc.sum(batches[name]).as_py() or 0)
    return LakeCounts(
        raw_rows=raw_rows,
        raw_distinct_ids=raw_distinct,
        raw_by_date=dict(sorted(by_date.items())),
        quarantined=quarantine.num_rows if quarantine is not None else 0,
        quarantine_by_reason=dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        batches=n_batches,
        counters=counters,
    )


@dataclass(frozen=True)
class ReconRow:
    """One line of the reconciliation: what was produced against what the lake holds.

    Attributes:
        kind: what is counted (e.g. ``valid events``).
        produced: how many the producer sent.
        landed: how many the lake accounts for.
        where: where the lake keeps them.
    """

    kind: str
    produced: int | None
    landed: int | None
    where: str

    @property
    def ok(self) -> bool:
        """Whether both sides are known and equal."""
        return self.produced is not None and self.produced == self.landed


def reconcile(summary: Mapping[str, Any] | None, counts: LakeCounts) -> list[ReconRow]:
    """Compare the producer's summary with the lake, kind by kind and date by date.

    Args:
        summary: the producer's summary (``produce_events`` return value: ``events_total``,
            ``valid``, ``malformed``, ``duplicates``, ``per_date``), or ``None`` when
            unknown: then only the lake's own identity (records read = raw + quarantined
            + duplicates dropped) is checked.
        counts: the lake's counts (`lake_counts`).

    Returns:
        The rows of the reconciliation table: one per kind, the total, then one per
        event date (valid events produced with that date against raw rows of that date).
    """
    dups = counts.duplicates_dropped
    total_landed = counts.raw_rows + counts.quarantined + (dups or 0)
    if summary is None:
        # Without the producer's side, the lake must still balance on its own.
        return [
            ReconRow("records read by ingest", counts.records_read, total_landed,
                     "raw + quarantined + duplicates dropped"),
            ReconRow("distinct event ids in raw", counts.raw_rows, counts.raw_distinct_ids,
                     "raw/events (no duplicate landed)"),
        ]  # fmt: skip
    total = _count(summary, "events_total")
    rows = [
        ReconRow("valid events (unique)", _count(summary, "valid"), counts.raw_rows,
                 "raw/events"),
        ReconRow("malformed records", _count(summary, "malformed"), counts.quarantined,
                 "raw/quarantine"),
        ReconRow("duplicates (re-sends)", _count(summary, "duplicates"), dups,
                 "dropped by ingest (batch counters)"),
        ReconRow("records read by ingest", total, counts.records_read, "raw/_ingest_batches"),
        ReconRow("total produced", total, total_landed,
                 "raw + quarantined + duplicates dropped"),
        ReconRow("distinct event ids in raw", _count(summary, "valid"),
                 counts.raw_distinct_ids, "raw/events (no duplicate landed)"),
    ]  # fmt: skip
    per_date = summary.get("per_date") or {}
    by_date = {d.isoformat(): n for d, n in counts.raw_by_date.items()}
    for day in sorted(set(per_date) | set(by_date)):
        rows.append(
            ReconRow(f"valid events dated {day}", int(per_date.get(day, 0)),
                     by_date.get(day, 0), f"raw/events event_date={day}")
        )  # fmt: skip
    return rows


def _count(summary: Mapping[str, Any], key: str) -> int | None:
    value = summary.get(key)
    return int(value) if isinstance(value, int) else None
