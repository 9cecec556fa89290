"""Control-table updates after each batch: stream progress and dirty dates.

After a batch commits to Delta, ingest records in ``stream#<name>/progress`` its batch
id, the event-time watermark (the latest event time seen, never later than the batch's
own start) and the dates touched, and marks dates the ETL already processed as dirty
when rows land in them. Both writes are conditional (``ControlStore``) and safe to repeat,
so a batch replayed after a crash simply records itself again.

Example:
    >>> recorder = ProgressRecorder.connect("loglake-control", endpoint=None)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from loglake_ingest.reconcile import BatchCounts

logger = logging.getLogger(__name__)


@dataclass
class ProgressRecorder:
    """Writes ingest progress to the control table through ``loglake_core.control_store``.

    Attributes:
        store: a ``ControlStore``.
        stream: stream name (``stream#<stream>/progress``).
        job: ETL job whose dates late rows make dirty.
    """

    store: Any
    stream: str
    job: str

    @classmethod
    def connect(
        cls, table: str, *, endpoint: str | None, stream: str, job: str, create: bool = True
    ) -> ProgressRecorder:
        """Build a recorder for ``table`` (created if missing when ``create``)."""
        from loglake_core.control_store import ControlStore, default_client
        from loglake_core.errors import ConfigError

        try:
            client = default_client(endpoint)  # ConfigError without boto3 or a region
        except ConfigError as exc:
            raise ConfigError(
                f"control table {table!r}: {exc}. For this job, --aws-endpoint URL gives the "
                "endpoint, and --control-table none runs without the control table"
            ) from exc
        from botocore.exceptions import BotoCoreError, ClientError

        store = ControlStore(table, client=client)
        try:
            if create:
                store.create_table_if_missing()
        except (BotoCoreError, ClientError) as exc:
            raise ConfigError(
                f"the control table {table!r} at {endpoint or 'AWS'} cannot be used: {exc}. "
                "Fix the endpoint (--aws-endpoint) or the AWS credentials and region, or pass "
                "--control-table none to run without it"
            ) from exc
        return cls(store=store, stream=stream, job=job)

    def mark_dirty(self, dates: Iterable[date], reason: str) -> list[date]:
        """Mark those of ``dates`` the job already processed as dirty; return them."""
        dirtied: list[date] = self.store.mark_dates_dirty(self.job, set(dates), reason)
        return dirtied

    def record(
        self, counts: BatchCounts, batch_time: datetime, *, query_id: str | None = None
    ) -> list[date]:
        """Record one committed batch of query ``query_id``; returns the dates made dirty."""
        dirtied: list[date] = []
        if counts.event_dates:
            dirtied = self.mark_dirty(
                counts.event_dates, f"late rows from ingest batch {counts.batch_id}"
            )
            if dirtied:
                logger.info(
                    "batch %d: rows landed in processed date(s) %s; marked dirty",
                    counts.batch_id,
                    ", ".join(d.isoformat() for d in dirtied),
                )
        watermark = counts.max_event_time
        if watermark is not None and watermark > batch_time:
            watermark = batch_time
        self.store.update_stream_progress(
            self.stream,
            batch_id=counts.batch_id,
            watermark=watermark,
            dates=set(counts.event_dates),
            counters=counts.counters(),
            query_id=query_id,
        )
        return dirtied
