"""Supervisor of one local run: ``python -m loglake_orchestrator.runners.supervise DIR -- CMD...``.

Runs ``CMD``, then writes its exit code to ``DIR/exit_code`` (atomically), so the local runner
can learn how a detached run ended even after the process that started it has gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def supervise(run_dir: Path, command: list[str]) -> int:
    """Run ``command`` and record its exit code in ``run_dir``; returns the exit code."""
    try:
        code = subprocess.call(command)
    except OSError as exc:
        print(f"could not run {command[0]!r}: {exc}", file=sys.stderr)
        code = 127
    tmp = run_dir / "exit_code.tmp"
    tmp.write_text(f"{code}\n", encoding="utf-8")
    os.replace(tmp, run_dir / "exit_code")
    return code


def main(argv: list[str]) -> int:
    """Entry point; ``argv`` is ``[DIR, "--", CMD...]``."""
    if len(argv) < 3 or argv[1] != "--":
        print(
            "usage: python -m loglake_orchestrator.runners.supervise DIR -- CMD...", file=sys.stderr
        )
        return 2
    return supervise(Path(argv[0]), argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
