"""The state file of the local stack: where each server listens and which process runs it.

``$LOGLAKE_STATE_DIR/stack.json`` (default ``~/.local/state/loglake/stack.json``) is written by
``loglake stack up`` and read by every tool and test that needs the stack's endpoints.

Example:
    >>> state = read_state()  # doctest: +SKIP
    >>> state.kafka_bootstrap if state else None  # doctest: +SKIP
    '127.0.0.1:19092'
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

ENV_STATE_DIR: Final = "LOGLAKE_STATE_DIR"
DEFAULT_STATE_DIR: Final = "~/.local/state/loglake"
STATE_FILE_NAME: Final = "stack.json"

#: Service names, in start order.
SERVICES: Final = ("kafka", "s3", "aws")

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_KAFKA_PORT: Final = 19092
DEFAULT_KAFKA_CONTROLLER_PORT: Final = 19093
DEFAULT_S3_PORT: Final = 19000
DEFAULT_AWS_PORT: Final = 15000


def state_dir(path: str | Path | None = None) -> Path:
    """The stack's state folder: ``path``, else ``$LOGLAKE_STATE_DIR``, else the default."""
    chosen = path or os.environ.get(ENV_STATE_DIR) or DEFAULT_STATE_DIR
    return Path(os.path.expanduser(str(chosen))).resolve()


@dataclass(frozen=True)
class StackState:
    """Where the local stack's servers listen and which processes run them.

    Attributes:
        kafka_bootstrap: Kafka bootstrap servers, e.g. ``127.0.0.1:19092``.
        s3_endpoint: S3 API endpoint URL (s3proxy), e.g. ``http://127.0.0.1:19000``.
        aws_endpoint: moto server URL for DynamoDB, Glue, SNS and SQS.
        pids: service name (``kafka``, ``s3``, ``aws``) -> process id.
        state_dir: the folder holding the state file, the data and the logs.
        start_times: service name -> process start time, `procs.start_time` (guards
            against pid reuse). A state file from before it was recorded has none, and
            then the pid alone identifies the server.
        kafka_controller_port: the KRaft controller port.
    """

    kafka_bootstrap: str
    s3_endpoint: str
    aws_endpoint: str
    pids: dict[str, int]
    state_dir: Path
    start_times: dict[str, float] = field(default_factory=dict)
    kafka_controller_port: int = DEFAULT_KAFKA_CONTROLLER_PORT

    @property
    def kafka_port(self) -> int:
        """The Kafka client port."""
        return int(self.kafka_bootstrap.rsplit(":", 1)[1])

    @property
    def s3_port(self) -> int:
        """The S3 API port."""
        return int(self.s3_endpoint.rsplit(":", 1)[1])

    @property
    def aws_port(self) -> int:
        """The moto server port."""
        return int(self.aws_endpoint.rsplit(":", 1)[1])

    @property
    def s3_access_key(self) -> str:
        """Access key the S3 server accepts (it also accepts any key when auth is off)."""
        return "testing"

    @property
    def s3_secret_key(self) -> str:
        """Secret key the S3 server accepts."""
        return "testing"

    def env(self) -> dict[str, str]:
        """Environment variables that point loglake's tools at this stack."""
        return {
            "LOGLAKE_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "LOGLAKE_S3_ENDPOINT": self.s3_endpoint,
            "LOGLAKE_AWS_ENDPOINT": self.aws_endpoint,
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of this state."""
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackState:
        """Rebuild a state from `to_json` output."""
        return cls(
            kafka_bootstrap=str(data["kafka_bootstrap"]),
            s3_endpoint=str(data["s3_endpoint"]),
            aws_endpoint=str(data["aws_endpoint"]),
            pids={str(k): int(v) for k, v in dict(data.get("pids", {})).items()},
            state_dir=Path(data["state_dir"]),
            start_times={str(k): float(v) for k, v in dict(data.get("start_times", {})).items()},
            kafka_controller_port=int(
                data.get("kafka_controller_port", DEFAULT_KAFKA_CONTROLLER_PORT)
            ),
        )


def state_file(directory: str | Path | None = None) -> Path:
    """Path of ``stack.json`` in the state folder."""
    return state_dir(directory) / STATE_FILE_NAME


def read_state(directory: str | Path | None = None) -> StackState | None:
    """The recorded stack state, or ``None`` when no stack was started (or the file is unreadable).

    The state says where the servers were started; whether they still answer is
    `loglake_tools.stack.manager.stack_status`'s job.
    """
    path = state_file(directory)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StackState.from_json(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(state: StackState) -> Path:
    """Write ``state`` atomically to its ``stack.json``."""
    path = state.state_dir / STATE_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".stack-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state.to_json(), fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def remove_state(directory: str | Path | None = None) -> None:
    """Delete ``stack.json`` (the data folders stay)."""
    state_file(directory).unlink(missing_ok=True)
