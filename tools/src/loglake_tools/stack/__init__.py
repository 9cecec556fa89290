"""The local stack: a Kafka broker, an S3 API server and moto's AWS server on loopback.

Example:
    >>> from loglake_tools.stack import ensure_stack_up, create_topic
    >>> state = ensure_stack_up()  # doctest: +SKIP
    >>> create_topic(state.kafka_bootstrap, "events")  # doctest: +SKIP
"""

from __future__ import annotations

from loglake_tools.stack.errors import (
    JarsMissingError,
    PortInUseError,
    ServerStartError,
    StackError,
)
from loglake_tools.stack.kafka import create_topic, delete_topic
from loglake_tools.stack.manager import ensure_stack_up, stack_status, start_stack, stop_stack
from loglake_tools.stack.s3proxy import create_bucket, s3_client
from loglake_tools.stack.state import StackState, read_state

__all__ = [
    "JarsMissingError",
    "PortInUseError",
    "ServerStartError",
    "StackError",
    "StackState",
    "create_bucket",
    "create_topic",
    "delete_topic",
    "ensure_stack_up",
    "read_state",
    "s3_client",
    "stack_status",
    "start_stack",
    "stop_stack",
]
