"""moto's server: the local AWS control plane (DynamoDB, Glue, SNS, SQS) of the stack.

It runs as ``python -m moto.server`` in its own process so that every tool and test
process talks to the same in-memory accounts over HTTP, like they would talk to AWS.
Its state lives in memory: a restart empties it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from loglake_tools.stack import procs

if TYPE_CHECKING:
    import psutil

REGION: Final = "us-east-1"
PROBE_TIMEOUT: Final = 2.0


def start(root: Path, port: int, host: str = "127.0.0.1") -> psutil.Process:
    """Start ``python -m moto.server`` detached on ``host:port``."""
    root.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]
    return procs.spawn(
        cmd,
        log_file=root.parent / "logs" / "moto.log",
        cwd=root,
        env={"PYTHONUNBUFFERED": "1", "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
    )


def client(service: str, endpoint: str, timeout: float = 30.0) -> Any:
    """A boto3 client of ``service`` bound to the moto server at ``endpoint``."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}),
    )


def is_ready(endpoint: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the moto server answers DynamoDB ListTables."""
    client("dynamodb", endpoint, timeout).list_tables()
    return True
