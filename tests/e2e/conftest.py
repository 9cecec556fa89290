"""Fixtures of the end-to-end tier: run ``loglake demo`` as a user would, in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from loglake_tools.stack import StackState

#: Longest one demo run of the e2e tier may take (the tier's budget is 6 minutes).
DEMO_TIMEOUT_SECONDS = 900


@dataclass
class DemoRun:
    """One finished ``loglake demo`` process and where it left things."""

    returncode: int
    output: str
    lake: str
    report: Path
    state_dir: Path
    seconds: float

    @property
    def book(self) -> dict[str, Any]:
        """The demo's bookkeeping (topic token, producer summary, runs)."""
        data: dict[str, Any] = json.loads((self.state_dir / "demo.json").read_text())
        return data

    @property
    def topic(self) -> str:
        return f"loglake-demo-{self.book['token']}"

    @property
    def control_table(self) -> str:
        return f"loglake-demo-{self.book['token']}"


DemoRunner = Callable[..., DemoRun]


@pytest.fixture
def demo_runner(local_stack: StackState, tmp_path: Path) -> Iterator[DemoRunner]:
    """Run ``loglake demo`` on a lake under ``tmp_path``: ``runner(*args, env=, on_start=)``.

    Returns the finished run; ``on_start(popen, state_dir)`` is called while the demo
    runs (fault injection), before the run is awaited. Afterwards the demo's topic and
    control table are deleted (a user's demo keeps them for its next run).
    """
    import time

    from loglake_tools.demo.config import DemoConfig

    workdir = tmp_path / "demo"
    lake = (tmp_path / "lake").as_uri()
    report = tmp_path / "report.html"

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        on_start: Callable[[subprocess.Popen[str], Path], None] | None = None,
    ) -> DemoRun:
        config = DemoConfig.resolve(lake=lake, workdir=workdir, report=report)
        cmd = [
            sys.executable, "-c", "from loglake_tools.cli import main; main()", "demo",
            "--lake", lake, "--workdir", str(workdir), "--report", str(report), *args,
        ]  # fmt: skip
        # a killed demo leaves Spark's scratch folders behind: keep them where pytest cleans
        scratch = {"SPARK_LOCAL_DIRS": str(tmp_path / "spark-local")}
        full_env = {**os.environ, "COLUMNS": "160", **scratch, **local_stack.env(), **(env or {})}
        out_path = tmp_path / f"demo-output-{len(list(tmp_path.glob('demo-output-*')))}.txt"
        t0 = time.monotonic()
        with open(out_path, "w", encoding="utf-8") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env=full_env
            )
            try:
                if on_start is not None:
                    on_start(proc, config.state_dir)
                proc.wait(timeout=DEMO_TIMEOUT_SECONDS)
            except BaseException:
                _stop(proc, config.state_dir)
                raise
        output = out_path.read_text(encoding="utf-8")
        return DemoRun(
            returncode=proc.returncode,
            output=output,
            lake=lake,
            report=report,
            state_dir=config.state_dir,
            seconds=time.monotonic() - t0,
        )

    yield run
    _drop_demo_resources(local_stack, workdir)


def _drop_demo_resources(local_stack: StackState, workdir: Path) -> None:
    """Delete the Kafka topics and control tables named in the demos' bookkeeping."""
    from loglake_tools.demo import resources
    from loglake_tools.demo.config import BOOKKEEPING_FILE, Bookkeeping

    for path in sorted(workdir.glob(f"lakes/*/{BOOKKEEPING_FILE}")):
        book = Bookkeeping.open(path.parent)
        resources.delete_topic_quietly(local_stack.kafka_bootstrap, book.topic)
        with contextlib.suppress(Exception):  # cleanup only: moto may be gone at the end
            resources.delete_control_table(book.control_table, local_stack.aws_endpoint)


def _stop(proc: subprocess.Popen[str], state_dir: Path) -> None:
    """Stop a demo that overran: SIGTERM (it stops ingest), then SIGKILL, then its ingest."""
    import signal

    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    pid_file = state_dir / "ingest.pid"
    if pid_file.exists():
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.killpg(int(pid_file.read_text().strip()), signal.SIGKILL)
