"""The control table store: the one module that talks to DynamoDB.

Items are marshalled with ``dynamodb-json`` (``json_util``); nothing else in loglake
writes DynamoDB type descriptors. Every write that moves state is conditional (a version
number or the stream's batch id) and a lost condition becomes :class:`ConflictError`.
boto3 and dynamodb-json are imported only when a store is built, so ``import loglake_core``
needs neither (install them with ``loglake-core[aws]``).

Example:
    >>> store = ControlStore("loglake-control", client=boto3.client("dynamodb"))
    >>> store.create_table_if_missing()
    >>> store.update_stream_progress(
    ...     "ingest", batch_id=7, watermark=now, dates={date(2026, 11, 27)}, counters={"read": 10}
    ... )
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

from loglake_core.control import (
    CONTROL_TABLE_ENV,
    DATE_PREFIX,
    DEFAULT_CONTROL_TABLE,
    PROGRESS_SK,
    RUN_PREFIX,
    STATE_SK,
    ConflictError,
    DateItem,
    DateStatus,
    JobState,
    RunRecord,
    StreamProgress,
    date_sk,
    job_pk,
    run_sk,
    stream_pk,
)
from loglake_core.errors import ConfigError

logger = logging.getLogger(__name__)

AWS_ENDPOINT_ENV: Final = "LOGLAKE_AWS_ENDPOINT"
#: Optimistic read-modify-write loops give up after this many lost races; more than a
#: handful means something writes the item in a tight loop, which is a bug to surface.
MAX_CONFLICT_RETRIES: Final = 8
#: Date statuses that late data (``mark_dates_dirty``) turns into ``dirty``.
DIRTIABLE: Final = frozenset({DateStatus.PROCESSED, DateStatus.FAILED, DateStatus.RUNNING})
_CONFLICT_CODES: Final = frozenset(
    {"ConditionalCheckFailedException", "TransactionCanceledException", "TransactionConflict"}
)


def _json_util() -> Any:
    try:
        from dynamodb_json import json_util
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "the control store needs boto3 and dynamodb-json; install loglake-core[aws]"
        ) from exc
    return json_util


def default_client(endpoint_url: str | None = None) -> Any:
    """A boto3 DynamoDB client; the endpoint comes from the argument or ``LOGLAKE_AWS_ENDPOINT``."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("the control store needs boto3; install loglake-core[aws]") from exc
    from botocore.exceptions import NoRegionError

    endpoint = endpoint_url or os.environ.get(AWS_ENDPOINT_ENV) or None
    # A local endpoint (moto) needs some region; on AWS the SDK's own resolution applies.
    region = None
    if endpoint and not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        region = "us-east-1"
    try:
        return boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=region,
            config=Config(retries={"mode": "standard"}),
        )
    except NoRegionError as exc:
        raise ConfigError(
            "the control table is on AWS DynamoDB (no endpoint given) but no AWS region is "
            "set: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region), or give a "
            f"local DynamoDB endpoint (${AWS_ENDPOINT_ENV}, e.g. the local stack's moto "
            "server)"
        ) from exc


class ControlStore:
    """Reads and conditionally writes the control table.

    Args:
        table_name: the table; default ``$LOGLAKE_CONTROL_TABLE`` or ``loglake-control``.
        client: a boto3 DynamoDB client (moto, a local endpoint or AWS); built if omitted.
    """

    def __init__(self, table_name: str | None = None, client: Any = None) -> None:
        self.table_name = (
            table_name or os.environ.get(CONTROL_TABLE_ENV) or DEFAULT_CONTROL_TABLE
        ).strip()
        if not self.table_name:
            raise ConfigError(f"{CONTROL_TABLE_ENV} is empty; set it to the control table name")
        self._json = _json_util()
        self.client = client if client is not None else default_client()

    # ------------------------------------------------------------------ marshalling
    def _dump(self, item: dict[str, Any]) -> dict[str, Any]:
        marshalled: dict[str, Any] = self._json.dumps(item, as_dict=True)
        return marshalled

    def _load(self, item: dict[str, Any]) -> dict[str, Any]:
        loaded: dict[str, Any] = self._json.loads(item, as_dict=True)
        return loaded

    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        return self._dump(values)

    # ------------------------------------------------------------------ table
    def create_table_if_missing(self) -> bool:
        """Create the table (``pk``/``sk`` strings, on-demand); True when it was created."""
        try:
            self.client.create_table(
                TableName=self.table_name,
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except self.client.exceptions.ResourceInUseException:
            return False
        self.client.get_waiter("table_exists").wait(
            TableName=self.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        logger.info("created control table %s", self.table_name)
        return True

    # ------------------------------------------------------------------ low level
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table_name,
            Key=self._dump({"pk": pk, "sk": sk}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return self._load(item) if item else None

    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": self._values({":pk": pk, ":prefix": prefix}),
            "ConsistentRead": True,
        }
        while True:
            response = self.client.query(**kwargs)
            items.extend(self._load(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _put_versioned(self, item: dict[str, Any], expected_version: int) -> dict[str, Any]:
        """A Put request body that only succeeds if the stored version is the expected one."""
        body: dict[str, Any] = {"TableName": self.table_name, "Item": self._dump(item)}
        if expected_version == 0:
            body["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            body["ConditionExpression"] = "#version = :expected"
            body["ExpressionAttributeNames"] = {"#version": "version"}
            body["ExpressionAttributeValues"] = self._values({":expected": expected_version})
        return body

    def _conflict(self, exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        return code in _CONFLICT_CODES

    # ------------------------------------------------------------------ stream progress
    def get_stream_progress(self, stream: str) -> StreamProgress | None:
        """The stream's progress, or None before its first batch."""
        item = self._get(stream_pk(stream), PROGRESS_SK)
        return StreamProgress.from_item(item) if item else None

    def update_stream_progress(
        self,
        stream: str,
        *,
        batch_id: int,
        watermark: datetime | None,
        dates: Iterable[date],
        counters: dict[str, int],
        query_id: str | None = None,
    ) -> None:
        """Record one committed ingest batch of the query ``query_id``.

        Within one query ``batch_id`` only moves forward: replaying the batch already
        recorded (or an older one) changes nothing. A different query id is a new
        checkpoint whose batch ids restart at 0; its batches are recorded from the first
        (a warning says so, in case two jobs share the stream name by mistake). The
        watermark never goes back, dates are added to the set of dates written, and
        counters are added to the running totals.
        """
        new_dates = set(dates)
        for _ in range(MAX_CONFLICT_RETRIES):
            current = self.get_stream_progress(stream)
            same_query = current is not None and current.query_id == query_id
            if current is not None and same_query and current.batch_id >= batch_id:
                logger.info(
                    "stream %s batch %d already recorded (at %d); nothing to do",
                    stream,
                    batch_id,
                    current.batch_id,
                )
                return
            if current is not None and not same_query:
                logger.warning(
                    "stream %s: batch %d comes from query %s, the last recorded one (batch "
                    "%d) from query %s: a new checkpoint has started. If two ingest jobs "
                    "share this stream name, give each its own --stream",
                    stream,
                    batch_id,
                    query_id,
                    current.batch_id,
                    current.query_id,
                )
            marks = [w for w in (watermark, current.watermark if current else None) if w]
            totals = dict(current.counters) if current else {}
            for key, value in counters.items():
                totals[key] = totals.get(key, 0) + int(value)
            progress = StreamProgress(
                stream=stream,
                batch_id=batch_id,
                watermark=max(marks) if marks else None,
                dates=tuple(sorted(new_dates | set(current.dates if current else ()))),
                counters=totals,
                last_counters={k: int(v) for k, v in counters.items()},
                updated_at=datetime.now(UTC),
                query_id=query_id,
                version=current.version + 1 if current else 1,
            )
            body: dict[str, Any] = {
                "TableName": self.table_name,
                "Item": self._dump(progress.to_item()),
            }
            if current is None:
                body["ConditionExpression"] = "attribute_not_exists(pk)"
            elif current.version == 0:  # written before progress had a version
                body["ConditionExpression"] = (
                    "batch_id = :previous AND attribute_not_exists(version)"
                )
                body["ExpressionAttributeValues"] = self._values({":previous": current.batch_id})
            else:
                body["ConditionExpression"] = "version = :seen"
                body["ExpressionAttributeValues"] = self._values({":seen": current.version})
            try:
                self.client.put_item(**body)
            except Exception as exc:
                if self._conflict(exc):
                    continue
                raise
            return
        raise ConflictError(
            f"stream {stream!r} progress kept changing; gave up after {MAX_CONFLICT_RETRIES} tries"
        )

    # ------------------------------------------------------------------ job state
    def get_job_state(self, job: str) -> JobState:
        """The job's state (a fresh idle state with version 0 before the first write)."""
        item = self._get(job_pk(job), STATE_SK)
        return JobState.from_item(item) if item else JobState(job=job)

    def get_date(self, job: str, day: date) -> DateItem | None:
        """One date's item, or None if the job has never seen the date."""
        item = self._get(job_pk(job), date_sk(day))
        return DateItem.from_item(item) if item else None

    def get_date_status(self, job: str, day: date) -> DateStatus:
        """One date's status (``pending`` when it has no item yet)."""
        item = self.get_date(job, day)
        return item.status if item else DateStatus.PENDING

    def list_dates(self, job: str) -> list[DateItem]:
        """Every date item of the job, oldest first."""
        return [DateItem.from_item(i) for i in self._query(job_pk(job), DATE_PREFIX)]

    def get_run(self, job: str, started_at: datetime, run_id: str) -> RunRecord | None:
        """One run history item, or None."""
        item = self._get(job_pk(job), run_sk(started_at, run_id))
        return RunRecord.from_item(item) if item else None

    def list_runs(self, job: str) -> list[RunRecord]:
        """The job's run history, oldest first."""
        return [RunRecord.from_item(i) for i in self._query(job_pk(job), RUN_PREFIX)]

    def commit(
        self,
        state: JobState,
        *,
        dates: Sequence[DateItem] = (),
        runs: Sequence[RunRecord] = (),
    ) -> None:
        """Write a state transition atomically (one DynamoDB transaction).

        ``state`` and each date item carry their new version; the write succeeds only if
        the stored versions are one less. Run records are written as given.

        Raises:
            ConflictError: another writer moved the state or a date first; nothing was written.
        """
        actions: list[dict[str, Any]] = [
            {"Put": self._put_versioned(state.to_item(), state.version - 1)}
        ]
        actions += [{"Put": self._put_versioned(d.to_item(), d.version - 1)} for d in dates]
        actions += [
            {"Put": {"TableName": self.table_name, "Item": self._dump(r.to_item())}} for r in runs
        ]
        try:
            self.client.transact_write_items(TransactItems=actions)
        except Exception as exc:
            if self._conflict(exc):
                raise ConflictError(
                    f"job {state.job!r}: state version {state.version - 1} or a date changed "
                    "meanwhile; the transition was not written"
                ) from exc
            raise

    # ------------------------------------------------------------------ dirty dates
    def mark_dates_dirty(
        self, job: str, dates: Iterable[date], reason: str, *, force: bool = False
    ) -> list[date]:
        """Mark dates for a re-run; returns the dates that became dirty.

        Without ``force`` (late data from ingest) only dates already processed, failed or
        running become dirty: a date never run will be picked up when it is complete anyway.
        A running date becomes dirty so that it runs again after its current run.
        With ``force`` (a backfill) every date that is not already dirty becomes dirty.
        """
        dirtied: list[date] = []
        now = datetime.now(UTC)
        for day in sorted(set(dates)):
            for _ in range(MAX_CONFLICT_RETRIES):
                current = self.get_date(job, day) or DateItem(job=job, day=day)
                if current.status == DateStatus.DIRTY:
                    break
                if not force and current.status not in DIRTIABLE:
                    break
                new = current.moved(DateStatus.DIRTY, now=now, reason=reason)
                try:
                    self.client.put_item(**self._put_versioned(new.to_item(), current.version))
                except Exception as exc:
                    if self._conflict(exc):
                        continue
                    raise
                dirtied.append(day)
                break
            else:
                raise ConflictError(f"date {day} of job {job!r} kept changing; not marked dirty")
        if dirtied:
            logger.info("job %s: marked %d date(s) dirty (%s)", job, len(dirtied), reason)
        return dirtied
