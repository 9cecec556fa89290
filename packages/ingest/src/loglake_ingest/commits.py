"""Which micro-batches of a query a Delta table holds: a marker in each commit.

Every append of a micro-batch carries Delta ``userMetadata`` naming the query's app id
and the batch id (:func:`commit_marker`). Delta stores it in the commit's ``commitInfo``,
in the same atomic commit as the rows, so a table holds a batch exactly when one of its
commits carries the batch's marker.

Spark runs a batch id a second time only after a restart (the last batch before a crash
or a stop without a commit in the checkpoint) or after that batch failed in the running
process. Only then does the writer look for its app's newest marker
(:func:`last_committed_batch`, reading the newest commits first) and leave out the
tables that already hold the batch; every other batch is new and is appended at once.

Delta's own ``txnAppId``/``txnVersion`` options do the same, but Delta checks them on
every append by reconstructing the table's whole state (a Spark job of three stages,
per table): about a second of a 9-10 s micro-batch for the three tables, and more as
the tables grow (docs/benchmarks.md). Tables written with those options before still
restart correctly: without a marker, the check reads Delta's transaction record.

Example:
    >>> commit_marker("loglake-ingest-42", 7)
    '{"app_id": "loglake-ingest-42", "batch_id": 7, "writer": "loglake-ingest"}'
    >>> parse_marker(commit_marker("loglake-ingest-42", 7))
    ('loglake-ingest-42', 7)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: ``writer`` of a marker (other tools' ``userMetadata`` is ignored).
WRITER: Final = "loglake-ingest"
#: Commits read first when looking for a marker; each further look reads this many
#: times more, until the table's whole history has been read.
FIRST_LOOK: Final = 32
LOOK_GROWTH: Final = 16
#: Delta operations of an append that may carry a ``txnAppId`` (a ``foreachBatch`` write).
UNMARKED_APPENDS: Final = frozenset({"WRITE", "STREAMING UPDATE"})


def commit_marker(app_id: str, batch_id: int) -> str:
    """The ``userMetadata`` of a batch's commit."""
    return json.dumps({"app_id": app_id, "batch_id": batch_id, "writer": WRITER}, sort_keys=True)


def parse_marker(text: str | None) -> tuple[str, int] | None:
    """``(app_id, batch_id)`` of a commit's ``userMetadata``, or ``None`` if not a marker.

    >>> parse_marker("nightly compaction") is None
    True
    """
    if not text or not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("writer") != WRITER:
        return None
    app_id, batch_id = value.get("app_id"), value.get("batch_id")
    if not isinstance(app_id, str) or not isinstance(batch_id, int):
        return None
    return app_id, batch_id


def last_committed_batch(spark: SparkSession, path: str, app_id: str) -> int | None:
    """The highest batch id of ``app_id`` that the Delta table at ``path`` holds.

    Reads the table's commits newest first until one carries the app's marker; the
    app's commits are in batch order, so that one has its highest batch. Without a
    marker in the retained history, and only if some append there carries none (tables
    written with ``txnAppId`` before markers), Delta's transaction record of the app
    decides: reading it rebuilds the table's state. ``None`` when nothing names the app.
    """
    from delta.tables import DeltaTable

    table = DeltaTable.forPath(spark, path)
    limit = FIRST_LOOK
    while True:
        rows = table.history(limit).select("operation", "userMetadata").collect()
        for row in rows:  # newest first
            marker = parse_marker(row.userMetadata)
            if marker is not None and marker[0] == app_id:
                return marker[1]
        if len(rows) < limit:  # the whole retained history has been read
            break
        limit *= LOOK_GROWTH
    unmarked = any(
        row.operation in UNMARKED_APPENDS and parse_marker(row.userMetadata) is None for row in rows
    )
    return delta_transaction_version(spark, path, app_id) if unmarked else None


def delta_transaction_version(spark: SparkSession, path: str, app_id: str) -> int | None:
    """Delta's recorded ``txnVersion`` of ``app_id`` at ``path`` (``None`` if none)."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    none = jvm.scala.Option.apply(None)
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)  # type: ignore[attr-defined]
    found = log.update(False, none, none).transactions().get(app_id)
    return int(found.get()) if found.isDefined() else None
