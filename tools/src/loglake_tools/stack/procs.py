"""Detached server processes: start in their own process group, check ports, stop by pid.

Every server of the local stack is a plain child process started with
``start_new_session=True`` (so a Ctrl-C in the terminal that ran ``loglake stack up``
does not reach it), its output going to a log file in the state folder. A process is
identified by its pid *and* its start time, so a recycled pid is never mistaken for
one of ours. The start time is counted from boot (``/proc/<pid>/stat``), not read off the
wall clock: a clock step (NTP, a resumed virtual machine) moves every process's
``create_time()`` and would make a running server look like a stranger holding its port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

import psutil

from loglake_tools.stack.errors import PortInUseError, ServerStartError

log = logging.getLogger(__name__)

#: Seconds a server gets to exit after SIGTERM before it is killed.
STOP_GRACE_SECONDS: Final = 20.0
#: A server's stdout log larger than this is rotated when the server starts again.
ROTATE_BYTES: Final = 20 * 1024 * 1024
#: Lines of a server's log shown when it fails to start.
LOG_TAIL_LINES: Final = 40


def spawn(
    cmd: Sequence[str],
    *,
    log_file: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> psutil.Process:
    """Start ``cmd`` detached (own session), appending stdout and stderr to ``log_file``.

    Returns:
        The psutil handle of the new process.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    _rotate(log_file)
    with open(log_file, "ab") as out:
        out.write(f"\n--- starting: {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            close_fds=True,
        )
    log.debug("started pid %s: %s", proc.pid, " ".join(cmd))
    return psutil.Process(proc.pid)


def start_time(proc: psutil.Process) -> float:
    """When ``proc`` started: seconds after boot on Linux, else seconds since the epoch.

    Raises:
        psutil.NoSuchProcess: the process is gone.
    """
    try:
        with open(f"/proc/{proc.pid}/stat", "rb") as fh:
            # Fields after the parenthesised command name start at field 3; starttime is 22.
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            raise psutil.NoSuchProcess(proc.pid) from None
        return proc.create_time()
    except (OSError, IndexError, ValueError):
        return proc.create_time()


def process_if_alive(pid: int | None, started: float | None = None) -> psutil.Process | None:
    """The process ``pid`` if it runs (not a zombie) and started at ``started`` (`start_time`)."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return None
        if started is not None and abs(start_time(proc) - started) > 1.0:
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return proc


def stop_process(proc: psutil.Process, *, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stop ``proc`` and its children: SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
    stop_processes([proc], grace=grace)


def stop_processes(
    processes: Sequence[psutil.Process], *, grace: float = STOP_GRACE_SECONDS
) -> None:
    """Stop several processes (and their children) at once, like `stop_process`."""
    family: list[psutil.Process] = []
    for proc in processes:
        try:
            family += [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    if not family:
        return
    for p in family:
        _signal(p, signal.SIGTERM)
    _gone, alive = psutil.wait_procs(family, timeout=grace)
    for p in alive:
        log.warning("pid %s did not stop after %.0fs; killing it", p.pid, grace)
        _signal(p, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=5)
    for p in family:
        _reap(p.pid)


def port_owner(port: int, host: str = "127.0.0.1") -> str | None:
    """Describe the process listening on ``host:port`` (or ``None`` when the port is free)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:  # pragma: no cover - unprivileged on some systems
        conns = []
    for conn in conns:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        # Java listens on IPv6 sockets: 127.0.0.1 shows up as ::ffff:127.0.0.1.
        ip = conn.laddr.ip.removeprefix("::ffff:")
        if ip not in (host, "0.0.0.0", "::", "::1", "127.0.0.1"):
            continue
        if conn.pid is None:
            return "an unknown process"
        try:
            p = psutil.Process(conn.pid)
            return f"pid {conn.pid} ({' '.join(p.cmdline()[:4]) or p.name()})"
        except psutil.Error:
            return f"pid {conn.pid}"
    if _bind_fails(host, port):
        return "an unknown process"
    return None


def ensure_port_free(port: int, what: str, host: str = "127.0.0.1") -> None:
    """Raise a `PortInUseError` naming the port and its owner when ``port`` is taken.

    Raises:
        PortInUseError: the port is in use.
    """
    owner = port_owner(port, host)
    if owner is not None:
        raise PortInUseError(
            f"port {port} needed by {what} is in use by {owner}; stop that process or pick "
            f"another port (e.g. `loglake stack up --{_flag_for(what)} <port>`)"
        )


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    proc: psutil.Process | None,
    what: str,
    log_file: Path,
    interval: float = 0.3,
) -> None:
    """Call ``check`` until it returns true; fail early if ``proc`` dies, or at ``timeout``.

    Raises:
        ServerStartError: with the tail of ``log_file`` when the server died or timed out.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if proc is not None and process_if_alive(proc.pid) is None:
            raise ServerStartError(
                f"{what} exited while starting; last lines of {log_file}:\n{tail(log_file)}"
            )
        try:
            if check():
                return
        except Exception as exc:  # readiness probes raise while the server boots
            last_error = exc
        if time.monotonic() >= deadline:
            raise ServerStartError(
                f"{what} did not answer within {timeout:.0f}s (last error: {last_error}); "
                f"last lines of {log_file}:\n{tail(log_file)}"
            )
        time.sleep(interval)


def _rotate(log_file: Path) -> None:
    """Move a log that outgrew `ROTATE_BYTES` to ``<name>.1`` before a new start appends."""
    try:
        if log_file.stat().st_size > ROTATE_BYTES:
            os.replace(log_file, log_file.with_name(log_file.name + ".1"))
    except FileNotFoundError:
        pass


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _flag_for(what: str) -> str:
    return {"Kafka": "kafka-port", "s3proxy": "s3-port", "moto": "aws-port"}.get(
        what.split()[0], "kafka-port"
    )


def _signal(proc: psutil.Process, sig: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
        proc.send_signal(sig)


def _reap(pid: int) -> None:
    """Collect the exit status of our own child so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError:  # pragma: no cover
        pass


def _bind_fails(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
