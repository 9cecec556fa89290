"""AWS Glue job runner (boto3; any endpoint, so moto works as well as AWS)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

from loglake_orchestrator.errors import RetryableRunnerError, RunnerError
from loglake_orchestrator.runners.base import JobRunner, RunStatus, classify_state, format_dates

logger = logging.getLogger(__name__)

#: Glue error codes that mean "not now" rather than "broken".
RETRYABLE_CODES: Final = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ConcurrentRunsExceededException",
        "ResourceNumberLimitExceededException",
        "InternalServiceException",
        "OperationTimeoutException",
        "ServiceUnavailable",
    }
)


def default_glue_client(endpoint_url: str | None = None) -> Any:
    """A boto3 Glue client with the standard retry mode."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "glue", endpoint_url=endpoint_url, config=Config(retries={"mode": "standard"})
    )


class GlueJobRunner(JobRunner):
    """Runs the ETL as an AWS Glue job with ``--dates`` and ``--lake`` arguments.

    Args:
        job_name: the Glue job.
        client: a boto3 Glue client (built from ``endpoint_url`` if omitted).
        endpoint_url: endpoint for the default client (moto's server locally).
    """

    name = "glue"

    def __init__(self, job_name: str, client: Any = None, endpoint_url: str | None = None) -> None:
        self.job_name = job_name
        self.client = client if client is not None else default_glue_client(endpoint_url)

    def _translate(self, exc: Exception, doing: str) -> Exception:
        error = getattr(exc, "response", {}).get("Error", {})
        code = error.get("Code", type(exc).__name__)
        message = (
            f"glue {doing} for job {self.job_name!r} failed: {code}: {error.get('Message', exc)}"
        )
        if code in RETRYABLE_CODES:
            return RetryableRunnerError(message)
        return RunnerError(message)

    def start(self, dates: Sequence[date], *, lake_uri: str) -> str:
        """Call StartJobRun."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.start_job_run(
                JobName=self.job_name,
                Arguments={"--dates": format_dates(dates), "--lake": lake_uri},
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, "StartJobRun") from exc
        run_id: str = response["JobRunId"]
        logger.info("started glue run %s of %s for %s", run_id, self.job_name, format_dates(dates))
        return run_id

    def get_status(self, run_id: str) -> RunStatus:
        """Call GetJobRun."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            run = self.client.get_job_run(JobName=self.job_name, RunId=run_id)["JobRun"]
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, "GetJobRun") from exc
        raw = str(run.get("JobRunState", "RUNNING"))
        return RunStatus(
            run_id=run_id,
            state=classify_state(raw),
            raw_state=raw,
            error_message=run.get("ErrorMessage"),
        )

    def stop(self, run_id: str) -> None:
        """Call BatchStopJobRun (errors are logged, not raised)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.batch_stop_job_run(JobName=self.job_name, JobRunIds=[run_id])
        except (ClientError, BotoCoreError) as exc:
            logger.warning("could not stop glue run %s: %s", run_id, exc)
