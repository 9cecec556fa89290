"""Measure one process tree: wall time, CPU-seconds (incl. children), peak RSS, broker CPU.

A contender runs as a subprocess (so its memory and CPU are its own) and everything it
starts is counted: pyspark's driver, the JVM it launches, Python workers.

* **CPU-seconds** come from the kernel: this process becomes a *child subreaper* (Linux
  ``prctl(PR_SET_CHILD_SUBREAPER)``), so descendants orphaned by their parent (the JVM
  outlives the pyspark driver) are re-parented here and reaped here; the difference of
  ``getrusage(RUSAGE_CHILDREN)`` before and after is then the user+system time of the whole
  tree. A psutil sample of every process seen is kept too; the larger of the two is reported.
* **Peak RSS** is the largest sum of resident memory over the tree, sampled every
  ``interval`` seconds (shared pages of forked workers are counted once per process).
* **Broker CPU** is read separately from the broker's pid before and after the run.

Example:
    >>> done = run_measured(["python", "-c", "print(1)"])  # doctest: +SKIP
    >>> done.measurement.wall_seconds > 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import psutil

from loglake_tools.bench.errors import ContenderFailedError

log = logging.getLogger(__name__)

ENV_SAMPLE_INTERVAL: Final = "LOGLAKE_BENCH_SAMPLE_INTERVAL"
DEFAULT_SAMPLE_INTERVAL: Final = 0.25
#: Seconds the descendants of a finished process get to exit (a JVM shutting down).
DESCENDANT_GRACE_SECONDS: Final = 30.0
#: Lines of a failed process's output shown in the error.
ERROR_TAIL_LINES: Final = 30
_PR_SET_CHILD_SUBREAPER: Final = 36

_subreaper_enabled: bool | None = None


@dataclass(frozen=True)
class Measurement:
    """What one run of one process tree cost.

    Attributes:
        wall_seconds: start of the process to its exit.
        cpu_seconds: user + system CPU of the process and all its descendants.
        cpu_seconds_sampled: the same from psutil samples (a cross-check; may miss the last
            ``interval`` of short-lived processes).
        peak_rss_bytes: largest sum of RSS over the tree.
        broker_cpu_seconds: CPU the Kafka broker used meanwhile (``None`` when not measured).
        returncode: exit status of the process.
        processes: number of distinct processes seen in the tree.
    """

    wall_seconds: float
    cpu_seconds: float
    cpu_seconds_sampled: float
    peak_rss_bytes: int
    broker_cpu_seconds: float | None
    returncode: int
    processes: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Completed:
    """A finished measured run: its measurement and its output."""

    measurement: Measurement
    stdout: str
    stderr_path: Path | None


def sample_interval(value: float | None = None) -> float:
    """Sampling interval: ``value``, else ``$LOGLAKE_BENCH_SAMPLE_INTERVAL``, else 0.25 s."""
    if value is not None:
        return value
    return float(os.environ.get(ENV_SAMPLE_INTERVAL, DEFAULT_SAMPLE_INTERVAL))


def enable_subreaper() -> bool:
    """Make this process the reaper of orphaned descendants (Linux); whether it worked."""
    global _subreaper_enabled
    if _subreaper_enabled is None:
        _subreaper_enabled = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                _subreaper_enabled = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
            except (OSError, AttributeError):
                _subreaper_enabled = False
        if not _subreaper_enabled:
            log.warning("cannot become child subreaper; CPU-seconds come from psutil samples")
    return _subreaper_enabled


def disable_subreaper(keep: set[int] | None = None) -> None:
    """Stop being the subreaper (reaping orphans left so far, except the pids in ``keep``).

    Called when a benchmark run ends, so that a long-lived process that ran it (a test
    session) goes back to normal orphan handling.
    """
    global _subreaper_enabled
    if not _subreaper_enabled:
        return
    _reap_ours(keep or set())
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    _subreaper_enabled = None


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU-seconds of ``pid`` so far (``None`` if it does not run)."""
    if not pid:
        return None
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(t.user + t.system)


#: Before a measured run, wait until the broker uses less than this share of one core...
BROKER_QUIET_SHARE: Final = 0.1
#: ...over a window of this many seconds, for at most ``BROKER_QUIET_TIMEOUT`` seconds.
BROKER_QUIET_WINDOW: Final = 1.0
BROKER_QUIET_TIMEOUT: Final = 30.0


def wait_for_quiet_broker(
    pid: int | None,
    *,
    share: float = BROKER_QUIET_SHARE,
    window: float = BROKER_QUIET_WINDOW,
    timeout: float = BROKER_QUIET_TIMEOUT,
) -> float:
    """Wait until the broker at ``pid`` is nearly idle; return the seconds waited.

    A broker the bench has just started loads its logs and compiles its code for a while,
    and on a 2-core machine that took CPU from whichever contender ran first: the first
    drain after a start saw 9.5 CPU-seconds of broker work, the next ones 3-3.5. Every
    measured run waits for the same quiet broker. Gives up after ``timeout`` seconds.
    """
    began = time.perf_counter()
    if not pid:
        return 0.0
    while time.perf_counter() - began < timeout:
        before = process_cpu_seconds(pid)
        time.sleep(window)
        after = process_cpu_seconds(pid)
        if before is None or after is None or after - before < share * window:
            break
    waited = time.perf_counter() - began
    if waited > 2 * window:
        log.info("waited %.1f s for the Kafka broker to go quiet", waited)
    return round(waited, 3)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(usage.ru_utime + usage.ru_stime)


class TreeSampler:
    """Samples CPU and RSS of a root process, its descendants and orphans re-parented here."""

    def __init__(self, root_pid: int, *, interval: float, exclude: set[int]) -> None:
        self._root_pid = root_pid
        self._interval = interval
        self._exclude = exclude
        self._procs: dict[tuple[int, float], psutil.Process] = {}
        self._cpu: dict[tuple[int, float], float] = {}
        self.peak_rss = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def start(self) -> None:
        """Start sampling in a background thread."""
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop the thread."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()

    @property
    def cpu_seconds(self) -> float:
        """Sum of the last CPU time seen of every process of the tree."""
        with self._lock:
            return sum(self._cpu.values())

    @property
    def excluded(self) -> set[int]:
        """Pids that were our children before the run (never counted, never reaped)."""
        return self._exclude

    @property
    def process_count(self) -> int:
        """Distinct processes seen."""
        return len(self._cpu)

    def alive(self) -> list[psutil.Process]:
        """Processes of the tree that still run (excluding zombies)."""
        out = []
        for p in self._discover():
            with contextlib.suppress(psutil.Error):
                if p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
        return out

    def _discover(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self._root_pid)
            found[root.pid] = root
            for c in root.children(recursive=True):
                found[c.pid] = c
        with contextlib.suppress(psutil.Error):
            for c in psutil.Process().children(recursive=True):
                if c.pid not in self._exclude:
                    found.setdefault(c.pid, c)
        return list(found.values())

    def sample(self) -> None:
        """Read CPU and RSS of every process of the tree once."""
        memory: dict[int, tuple[int, int, int]] = {}  # pid -> (parent pid, rss, vms)
        for p in self._discover():
            try:
                with p.oneshot():
                    key = (p.pid, p.create_time())
                    t = p.cpu_times()
                    mem = p.memory_info()
                    memory[p.pid] = (p.ppid(), mem.rss, mem.vms)
            except psutil.Error:
                continue
            with self._lock:
                self._procs[key] = p
                self._cpu[key] = max(self._cpu.get(key, 0.0), float(t.user + t.system))
        self.peak_rss = max(self.peak_rss, tree_rss(memory))

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()


def tree_rss(memory: Mapping[int, tuple[int, int, int]]) -> int:
    """Sum of RSS over ``memory`` (pid -> (parent pid, rss, vms)), each address space once.

    A child caught between ``vfork`` and ``exec`` (the JVM starts helper commands that way)
    shares its parent's address space and reports exactly the parent's RSS and VMS;
    adding both would count a 2.5 GiB JVM twice. Such a child is left out.

    Example:
        >>> tree_rss({1: (0, 100, 900), 2: (1, 100, 900), 3: (1, 5, 50)})
        105
    """
    total = 0
    for parent, rss, vms in memory.values():
        up = memory.get(parent)
        if up is not None and (up[1], up[2]) == (rss, vms):
            continue
        total += rss
    return total


def run_measured(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    broker_pid: int | None = None,
    timeout: float | None = None,
    interval: float | None = None,
    stderr_path: Path | None = None,
    what: str | None = None,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    ok_returncodes: tuple[int, ...] = (0,),
) -> Completed:
    """Run ``cmd`` to completion and measure its process tree.

    Args:
        cmd: the command (no shell).
        env: extra environment variables on top of this process's.
        cwd: working folder.
        broker_pid: pid of the Kafka broker, whose CPU is measured separately.
        timeout: seconds after which the tree is killed and the run fails.
        interval: sampling interval (see `sample_interval`).
        stderr_path: file that receives the process's stderr (default: discarded).
        what: a name for error messages.
        on_start: called with the process once it runs (e.g. to stop it later).
        ok_returncodes: exit statuses that count as success.

    Returns:
        The measurement and the process's stdout.

    Raises:
        ContenderFailedError: the process exited with another status or timed out.
    """
    what = what or os.path.basename(cmd[0])
    reaper = enable_subreaper()
    exclude = {c.pid for c in psutil.Process().children(recursive=True)}
    wait_for_quiet_broker(broker_pid)
    broker_before = process_cpu_seconds(broker_pid)
    cpu_before = _children_cpu()
    err_fh = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL  # noqa: SIM115
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err_fh,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        sampler = TreeSampler(proc.pid, interval=sample_interval(interval), exclude=exclude)
        sampler.start()
        if on_start is not None:
            on_start(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(sampler)
            proc.communicate()
            sampler.stop()
            raise ContenderFailedError(
                f"{what} did not finish within {timeout:.0f}s and was killed"
                + _tail_hint(stderr_path)
            ) from None
        wall = time.perf_counter() - start
        _wait_descendants(sampler)
        sampler.stop()
    finally:
        if stderr_path:
            err_fh.close()  # type: ignore[union-attr]
    broker_after = process_cpu_seconds(broker_pid)
    cpu_kernel = _children_cpu() - cpu_before
    cpu = max(cpu_kernel, sampler.cpu_seconds) if reaper else sampler.cpu_seconds
    measurement = Measurement(
        wall_seconds=wall,
        cpu_seconds=cpu,
        cpu_seconds_sampled=sampler.cpu_seconds,
        peak_rss_bytes=sampler.peak_rss,
        broker_cpu_seconds=(
            broker_after - broker_before
            if broker_before is not None and broker_after is not None
            else None
        ),
        returncode=proc.returncode,
        processes=sampler.process_count,
    )
    stdout = out.decode("utf-8", errors="replace")
    if proc.returncode not in ok_returncodes:
        raise ContenderFailedError(
            f"{what} exited with status {proc.returncode}" + _tail_hint(stderr_path, stdout)
        )
    log.debug("%s: %s", what, measurement)
    return Completed(measurement=measurement, stdout=stdout, stderr_path=stderr_path)


def _wait_descendants(sampler: TreeSampler) -> None:
    """Wait for processes left by the root (and reap those re-parented to us)."""
    deadline = time.monotonic() + DESCENDANT_GRACE_SECONDS
    while True:
        sampler.sample()
        _reap_ours(sampler.excluded)
        alive = sampler.alive()
        if not alive:
            return
        if time.monotonic() >= deadline:
            log.warning("killing %d leftover process(es) of the measured run", len(alive))
            _kill_tree(sampler)
            return
        time.sleep(0.1)


def _reap_ours(exclude: set[int]) -> None:
    """Collect exit statuses of our zombie children (re-parented orphans) not in ``exclude``."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children():
            if child.pid in exclude:
                continue
            with contextlib.suppress(psutil.Error, ChildProcessError, OSError):
                if child.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(child.pid, os.WNOHANG)


def _kill_tree(sampler: TreeSampler) -> None:
    procs = sampler.alive()
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)
    _reap_ours(sampler.excluded)


def _tail_hint(path: Path | None, stdout: str = "") -> str:
    lines: list[str] = []
    if path and path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()[-ERROR_TAIL_LINES:]
    elif stdout:
        lines = stdout.splitlines()[-ERROR_TAIL_LINES:]
    if not lines:
        return ""
    where = f" (full log: {path})" if path else ""
    return f"; last lines{where}:\n" + "\n".join(lines)
