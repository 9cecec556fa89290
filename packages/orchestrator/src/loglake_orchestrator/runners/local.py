"""Local job runner: the ETL in a detached subprocess, tracked through a state folder.

Each run gets ``<state dir>/<run id>/`` holding ``run.json`` (command, pid, dates),
``output.log`` (stdout and stderr), ``result.json`` (the job's result, if it writes one) and
``exit_code`` (written by :mod:`loglake_orchestrator.runners.supervise` when the job ends).
The default command is ``python -m loglake_glue_etl``; the runner appends
``--lake URI --dates D1,D2 --result-path F``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from loglake_orchestrator.errors import RunnerError
from loglake_orchestrator.runners.base import JobRunner, RunState, RunStatus, format_dates

logger = logging.getLogger(__name__)

FAIL_ONCE_MARKER: Final = "fail-once.used"
#: Lines of the job's output quoted in a failure's error message.
ERROR_TAIL_LINES: Final = 5


def default_command() -> list[str]:
    """``python -m loglake_glue_etl`` with this interpreter."""
    return [sys.executable, "-m", "loglake_glue_etl"]


def _injected_failure() -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; print('injected failure (LOGLAKE_ETL_FAIL_ONCE)', file=sys.stderr); "
        "sys.exit(3)",
    ]


def _pid_alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalJobRunner(JobRunner):
    """Runs the ETL job as a local subprocess.

    Args:
        state_dir: folder for run folders (created if missing).
        command: the job command (default ``python -m loglake_glue_etl``); a string is split
            like a shell would.
        fail_once: make the first run started in ``state_dir`` fail (for fault demos).
        env: extra environment variables for the job.
    """

    name = "local"

    def __init__(
        self,
        state_dir: Path,
        command: Sequence[str] | str | None = None,
        *,
        fail_once: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        if isinstance(command, str):
            command = shlex.split(command)
        self.command = list(command) if command else default_command()
        self.fail_once = fail_once
        self.env = env or {}

    def _run_dir(self, run_id: str) -> Path:
        if "/" in run_id or run_id.startswith("."):
            raise RunnerError(f"run id {run_id!r} is not a local run id")
        return self.state_dir / run_id

    def start(self, dates: Sequence[date], *, lake_uri: str) -> str:
        """Start the job detached from this process; returns the run id."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        run_id = f"local-{stamp}-{uuid.uuid4().hex[:8]}"
        run_dir = self._run_dir(run_id)
        run_dir.mkdir(parents=True, exist_ok=False)
        result_path = run_dir / "result.json"
        job = [*self.command, "--lake", lake_uri, "--dates", format_dates(dates)]
        job += ["--result-path", str(result_path)]
        marker = self.state_dir / FAIL_ONCE_MARKER
        if self.fail_once and not marker.exists():
            marker.write_text(run_id, encoding="utf-8")
            job = _injected_failure()
            logger.warning("run %s will fail on purpose (fail once)", run_id)
        argv = [sys.executable, "-m", "loglake_orchestrator.runners.supervise", str(run_dir), "--"]
        log = (run_dir / "output.log").open("ab")
        try:
            process = subprocess.Popen(
                [*argv, *job],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        except OSError as exc:
            raise RunnerError(f"could not start {job[0]!r}: {exc}") from exc
        finally:
            log.close()
        meta = {"run_id": run_id, "pid": process.pid, "command": job, "dates": format_dates(dates)}
        (run_dir / "run.json").write_text(json.dumps(meta), encoding="utf-8")
        logger.info("started local run %s (pid %d) for %s", run_id, process.pid, meta["dates"])
        return run_id

    def _meta(self, run_id: str) -> dict[str, Any]:
        path = self._run_dir(run_id) / "run.json"
        try:
            meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunnerError(f"local run {run_id!r} is unknown (no {path})") from None
        return meta

    def _tail(self, run_id: str) -> str:
        path = self._run_dir(run_id) / "output.log"
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except FileNotFoundError:
            return ""
        return " | ".join(lines[-ERROR_TAIL_LINES:])

    def result(self, run_id: str) -> dict[str, Any] | None:
        """The job's result JSON, if it wrote one."""
        path = self._run_dir(run_id) / "result.json"
        try:
            loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return loaded

    def get_status(self, run_id: str) -> RunStatus:
        """RUNNING while the process lives; then SUCCEEDED (exit 0) or FAILED."""
        meta = self._meta(run_id)
        exit_file = self._run_dir(run_id) / "exit_code"
        if exit_file.exists():
            code = int(exit_file.read_text(encoding="utf-8").strip() or "1")
            if code == 0:
                return RunStatus(run_id, RunState.SUCCEEDED, "SUCCEEDED")
            return RunStatus(
                run_id, RunState.FAILED, "FAILED", f"exit code {code}: {self._tail(run_id)}"
            )
        if _pid_alive(int(meta["pid"])):
            return RunStatus(run_id, RunState.RUNNING, "RUNNING")
        if exit_file.exists():  # finished between the two checks
            return self.get_status(run_id)
        return RunStatus(
            run_id,
            RunState.FAILED,
            "ERROR",
            f"process vanished without an exit code: {self._tail(run_id)}",
        )

    def stop(self, run_id: str) -> None:
        """Send SIGTERM to the run's process group (best effort)."""
        try:
            os.killpg(int(self._meta(run_id)["pid"]), signal.SIGTERM)
        except (ProcessLookupError, PermissionError, RunnerError) as exc:
            logger.warning("could not stop local run %s: %s", run_id, exc)
