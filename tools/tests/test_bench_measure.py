"""Process-tree measurement: CPU of orphaned descendants, peak RSS, failures, timeouts."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from loglake_tools.bench.errors import ContenderFailedError
from loglake_tools.bench.measure import (
    enable_subreaper,
    process_cpu_seconds,
    run_measured,
    tree_rss,
)

pytestmark = pytest.mark.unit

TREE = textwrap.dedent(
    """
    import os, sys, time

    def burn(seconds):
        t = time.process_time()
        while time.process_time() - t < seconds:
            pass

    if sys.argv[1:] == ["orphan"]:
        if os.fork() == 0:          # grandchild outlives its parent
            burn(0.6)
            os._exit(0)
        os._exit(0)
    import subprocess
    subprocess.run([sys.executable, __file__, "orphan"], check=True)
    block = bytearray(150 * 1024 * 1024)   # 150 MiB, touched
    for i in range(0, len(block), 4096):
        block[i] = 1
    burn(0.4)
    print('{"ok": true}')
    """
)


def test_counts_cpu_of_orphaned_grandchildren_and_peak_rss(tmp_path: Path) -> None:
    script = tmp_path / "tree.py"
    script.write_text(TREE)
    done = run_measured([sys.executable, str(script)], interval=0.05)
    m = done.measurement
    assert done.stdout.strip().endswith('{"ok": true}')
    assert m.returncode == 0
    # 0.4 s in the root + 0.6 s in the orphan, both counted.
    assert m.cpu_seconds >= 0.95
    assert m.peak_rss_bytes >= 150 * 1024 * 1024
    assert m.wall_seconds >= 0.6  # waited for the orphan to finish
    if enable_subreaper():
        assert m.cpu_seconds >= m.cpu_seconds_sampled - 0.05


def test_failure_names_the_process_and_shows_its_output(tmp_path: Path) -> None:
    err = tmp_path / "err.log"
    with pytest.raises(ContenderFailedError, match=r"demo job exited with status 3") as info:
        run_measured(
            [sys.executable, "-c", "import sys; sys.stderr.write('boom here\\n'); sys.exit(3)"],
            stderr_path=err,
            what="demo job",
        )
    assert "boom here" in str(info.value)
    assert str(err) in str(info.value)


def test_timeout_kills_the_tree() -> None:
    with pytest.raises(ContenderFailedError, match="did not finish within 1s"):
        run_measured([sys.executable, "-c", "import time; time.sleep(30)"], timeout=1.0)


def test_broker_cpu_is_measured_separately_by_pid() -> None:
    import os

    done = run_measured([sys.executable, "-c", "pass"], broker_pid=os.getpid())
    assert done.measurement.broker_cpu_seconds is not None
    assert done.measurement.broker_cpu_seconds >= 0
    assert process_cpu_seconds(None) is None
    assert process_cpu_seconds(2**22 + 12345) is None


def test_a_child_sharing_its_parents_address_space_is_counted_once() -> None:
    gib = 1 << 30
    jvm = (1, 2 * gib + 5, 9 * gib)
    # pid 20: a vfork'd helper of the JVM (pid 10) before exec: same RSS and VMS
    memory = {1: (0, 80 << 20, 400 << 20), 10: jvm, 20: (10, *jvm[1:]), 30: (10, 3 << 20, 9 << 20)}
    assert tree_rss(memory) == (80 << 20) + jvm[1] + (3 << 20)
    # a child that merely has the same RSS but its own address space still counts
    memory[20] = (10, jvm[1], 3 * gib)
    assert tree_rss(memory) == (80 << 20) + 2 * jvm[1] + (3 << 20)


def test_a_run_waits_for_a_busy_broker_to_go_quiet() -> None:
    import subprocess

    from loglake_tools.bench.measure import wait_for_quiet_broker

    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert wait_for_quiet_broker(idle.pid, window=0.3, timeout=5) < 1.0  # quiet at once
        waited = wait_for_quiet_broker(busy.pid, window=0.3, timeout=1.5)
        assert 1.5 <= waited < 3.0  # never quiet: gives up after the timeout
        assert wait_for_quiet_broker(None) == 0.0
    finally:
        for proc in (idle, busy):
            proc.kill()
            proc.wait()
