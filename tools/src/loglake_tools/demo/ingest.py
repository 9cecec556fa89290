"""The ingest job as a supervised subprocess (``python -m loglake_ingest``).

The demo runs ingest the way production does: its own process with its own Spark
driver, reading Kafka from its checkpoint. If the process dies (a crash, an OOM kill, a
``kill -9``), the demo starts it again and it resumes from the checkpoint; the Delta
writes are idempotent per micro-batch, so nothing is lost or written twice.

The process id is written to ``ingest.pid`` in the demo's folder, so a test (or a
curious user) can kill it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from loglake_tools.demo.errors import DemoError

log = logging.getLogger(__name__)

#: Restarts of a dead ingest process before the demo gives up.
MAX_RESTARTS: Final = 3
#: Seconds ingest gets to stop between two batches after SIGTERM.
STOP_GRACE_SECONDS: Final = 120.0
#: Trigger interval of the streaming query in ``--follow`` mode.
FOLLOW_TRIGGER_SECONDS: Final = 5
LOG_TAIL_LINES: Final = 25


@dataclass
class IngestProcess:
    """One ``python -m loglake_ingest`` process, restarted when it dies unexpectedly.

    Attributes:
        args: the job's command line arguments (after ``-m loglake_ingest``).
        log_path: file receiving the job's stdout and stderr.
        pid_path: file holding the current process id.
        env: environment of the job.
        restarts: how many times it was restarted after dying.
    """

    args: list[str]
    log_path: Path
    pid_path: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    restarts: int = 0
    _proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None
    deaths: list[str] = field(default_factory=list)

    @property
    def command(self) -> list[str]:
        """The full command line."""
        return [sys.executable, "-m", "loglake_ingest", *self.args]

    @property
    def pid(self) -> int | None:
        """Process id of the running job."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the job (detached in its own process group)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in `_closed`
        self._log.write(f"\n--- starting: {' '.join(self.command)}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        self.pid_path.write_text(f"{self._proc.pid}\n", encoding="utf-8")
        log.info("ingest started, pid %d", self._proc.pid)

    def check(self, *, expect_exit: bool) -> int | None:
        """Return the exit code if the job ended; restart it when it died unexpectedly.

        Args:
            expect_exit: the job may end by itself (available-now drains and exits 0).

        Returns:
            ``None`` while it runs (or after a restart), else its exit code (0).

        Raises:
            DemoError: it failed more than `MAX_RESTARTS` times, or exited non-zero
                on its own in a way a restart cannot fix (configuration errors).
        """
        if self._proc is None:
            return None
        code = self._proc.poll()
        if code is None:
            return None
        self._closed()
        if code == 0 and expect_exit:
            return 0
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        if code == 2:  # click usage or configuration error: a restart would fail the same way
            raise DemoError(f"ingest refused to start ({how}):\n{self.tail()}")
        self.deaths.append(how)
        # A killed driver leaves its JVM in the process group: clear it before restarting.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        if self.restarts >= MAX_RESTARTS:
            raise DemoError(
                f"ingest died {self.restarts + 1} times (last: {how}); see {self.log_path}:\n"
                f"{self.tail()}"
            )
        self.restarts += 1
        log.warning("ingest died (%s); restarting it from its checkpoint", how)
        self.start()
        return None

    def stop(self) -> int | None:
        """Ask the job to stop between two batches (SIGTERM), then kill it if it hangs."""
        if self._proc is None or self._proc.poll() is not None:
            self._closed()
            return self._proc.returncode if self._proc else None
        self._proc.send_signal(signal.SIGTERM)
        try:
            code = self._proc.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("ingest did not stop in %.0fs; killing it", STOP_GRACE_SECONDS)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            code = self._proc.wait(30)
        self._closed()
        return code

    def wait(self, timeout: float, *, poll: float = 0.5) -> int:
        """Wait for an available-now run to end, restarting it if it dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.check(expect_exit=True)
            if code is not None:
                return code
            time.sleep(poll)
        raise DemoError(f"ingest did not finish in {timeout:.0f}s; see {self.log_path}")

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the job's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        last_start = text.rfind("\n--- starting: ")
        if last_start > 0:
            text = text[last_start:]
        return "\n".join(text.strip().splitlines()[-lines:])

    def _closed(self) -> None:
        self.pid_path.unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None
