"""Failure alerts: SNS, or the log when no topic is configured (local runs)."""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from loglake_orchestrator.errors import OrchestratorError

logger = logging.getLogger(__name__)


class Notifier(Protocol):
    """Sends one alert."""

    def publish(self, subject: str, message: dict[str, Any]) -> None:
        """Send ``message`` (a JSON object) with ``subject``."""
        ...


class SnsNotifier:
    """Publishes alerts to an SNS topic (the body is the JSON message)."""

    def __init__(self, topic_arn: str, client: Any = None, endpoint_url: str | None = None) -> None:
        self.topic_arn = topic_arn
        self.endpoint_url = endpoint_url
        self._client = client

    @property
    def client(self) -> Any:
        """The SNS client, built on first use (most invocations never publish)."""
        if self._client is None:
            import boto3

            self._client = boto3.client("sns", endpoint_url=self.endpoint_url)
        return self._client

    def publish(self, subject: str, message: dict[str, Any]) -> None:
        """Publish; raises OrchestratorError when SNS refuses."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.publish(
                TopicArn=self.topic_arn,
                Subject=subject[:99],
                Message=json.dumps(message, sort_keys=True),
            )
        except (ClientError, BotoCoreError) as exc:
            raise OrchestratorError(f"SNS publish to {self.topic_arn} failed: {exc}") from exc


class LogNotifier:
    """Writes alerts to the log (used when no SNS topic is set)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, subject: str, message: dict[str, Any]) -> None:
        """Log the alert at ERROR level and keep it in ``sent``."""
        self.sent.append((subject, message))
        logger.error("ALERT %s: %s", subject, json.dumps(message, sort_keys=True))
