"""Bring the local stack up, report its status, take it down.

`ensure_stack_up` is idempotent: servers that already run and answer are kept, the
missing ones are started (in parallel) and each is reported ready only once it
answers a real request. A file lock makes concurrent callers (two test sessions, a
test and a terminal) agree on one stack.

Example:
    >>> state = ensure_stack_up()  # doctest: +SKIP
    >>> state.kafka_bootstrap  # doctest: +SKIP
    '127.0.0.1:19092'
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from loglake_tools.stack import kafka, moto_server, procs, s3proxy
from loglake_tools.stack.errors import JarsMissingError, StackError
from loglake_tools.stack.state import (
    DEFAULT_AWS_PORT,
    DEFAULT_HOST,
    DEFAULT_KAFKA_PORT,
    DEFAULT_S3_PORT,
    SERVICES,
    StackState,
    read_state,
    remove_state,
    state_dir,
    write_state,
)

if TYPE_CHECKING:
    import psutil

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 120.0
LOCK_NAME: Final = "stack.lock"
_LABELS: Final = {"kafka": "Kafka broker", "s3": "s3proxy (S3 API)", "aws": "moto server"}


@dataclass(frozen=True)
class UpResult:
    """What `start_stack` did: the state and which services it started or reused."""

    state: StackState
    started: tuple[str, ...]
    reused: tuple[str, ...]
    seconds: float


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_NAME, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _endpoint(state: StackState, service: str) -> str:
    return {"kafka": state.kafka_bootstrap, "s3": state.s3_endpoint, "aws": state.aws_endpoint}[
        service
    ]


def _probe(service: str) -> Callable[[str, float], bool]:
    return {"kafka": kafka.is_ready, "s3": s3proxy.is_ready, "aws": moto_server.is_ready}[service]


def _log_file(state: StackState, service: str) -> Path:
    if service == "kafka":
        return kafka.server_log(state.state_dir / "kafka")
    return state.state_dir / "logs" / ("s3proxy.log" if service == "s3" else "moto.log")


def answers(state: StackState, service: str, timeout: float = 2.0) -> bool:
    """Whether ``service`` of ``state`` answers a real request right now."""
    try:
        return _probe(service)(_endpoint(state, service), timeout)
    except Exception:  # any failure of a probe means "not answering"
        return False


def running_process(state: StackState, service: str) -> psutil.Process | None:
    """The live process of ``service`` recorded in ``state`` (None when it is gone)."""
    return procs.process_if_alive(state.pids.get(service), state.start_times.get(service))


def _wanted_state(
    directory: Path,
    previous: StackState | None,
    kafka_port: int | None,
    s3_port: int | None,
    aws_port: int | None,
) -> StackState:
    host = DEFAULT_HOST
    kport = kafka_port or (previous.kafka_port if previous else DEFAULT_KAFKA_PORT)
    sport = s3_port or (previous.s3_port if previous else DEFAULT_S3_PORT)
    aport = aws_port or (previous.aws_port if previous else DEFAULT_AWS_PORT)
    return StackState(
        kafka_bootstrap=f"{host}:{kport}",
        s3_endpoint=f"http://{host}:{sport}",
        aws_endpoint=f"http://{host}:{aport}",
        pids={},
        state_dir=directory,
        start_times={},
        kafka_controller_port=kport + 1,
    )


def start_stack(
    *,
    kafka_port: int | None = None,
    s3_port: int | None = None,
    aws_port: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    fresh: bool = False,
    directory: str | Path | None = None,
    services: tuple[str, ...] = SERVICES,
) -> UpResult:
    """Start whatever part of the stack is not running; reuse what runs and answers.

    Args:
        kafka_port: Kafka client port (the controller uses the next one); default 19092,
            or the port recorded in the state file.
        s3_port: S3 API port (default 19000).
        aws_port: moto server port (default 15000).
        timeout: seconds each server gets to answer.
        fresh: stop everything and wipe the state folder (all data) first.
        directory: state folder (``$LOGLAKE_STATE_DIR``, default ``~/.local/state/loglake``).
        services: which services to bring up.

    Raises:
        PortInUseError: a port is taken by a process that is not ours.
        ServerStartError: a server exited or did not answer in time (with its log tail).
    """
    t0 = time.monotonic()
    folder = state_dir(directory)
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise StackError(f"unknown service(s) {sorted(unknown)}; choose from {list(SERVICES)}")
    with _locked(folder):
        if fresh:
            _stop_recorded(folder, SERVICES)
            _wipe(folder)
        previous = read_state(folder)
        wanted = _wanted_state(folder, previous, kafka_port, s3_port, aws_port)
        pids: dict[str, int] = {}
        starts: dict[str, float] = {}
        reused: list[str] = []
        to_start: list[str] = []
        for service in SERVICES:
            proc = running_process(previous, service) if previous else None
            if proc is not None and previous is not None:
                if _endpoint(previous, service) != _endpoint(wanted, service):
                    raise StackError(
                        f"{_LABELS[service]} already runs at {_endpoint(previous, service)} "
                        f"(pid {proc.pid}); run `loglake stack down` before changing its port"
                    )
                pids[service] = proc.pid
                starts[service] = procs.start_time(proc)
                reused.append(service)
            elif service in services:
                to_start.append(service)
        started = _start_services(wanted, to_start, pids, starts)
        state = replace(wanted, pids=pids, start_times=starts)
        write_state(state)
        try:
            for service in [*reused, *to_start]:
                procs.wait_until(
                    lambda s=service: answers(state, s, timeout=min(5.0, timeout)),
                    timeout=timeout,
                    proc=started.get(service) or running_process(state, service),
                    what=f"{_LABELS[service]} at {_endpoint(state, service)}",
                    log_file=_log_file(state, service),
                )
        except StackError:
            procs.stop_processes(list(started.values()))
            for service in started:
                pids.pop(service, None)
                starts.pop(service, None)
            write_state(replace(state, pids=pids, start_times=starts))
            raise
    elapsed = time.monotonic() - t0
    log.info("stack up in %.1fs (started %s, reused %s)", elapsed, to_start, reused)
    return UpResult(state, tuple(to_start), tuple(reused), elapsed)


def _start_services(
    state: StackState,
    names: list[str],
    pids: dict[str, int],
    starts: dict[str, float],
) -> dict[str, psutil.Process]:
    ports = {
        "kafka": [(state.kafka_port, "Kafka"), (state.kafka_controller_port, "Kafka controller")],
        "s3": [(state.s3_port, "s3proxy")],
        "aws": [(state.aws_port, "moto server")],
    }
    for name in names:
        for port, what in ports[name]:
            procs.ensure_port_free(port, what)
    started: dict[str, psutil.Process] = {}
    root = state.state_dir
    try:
        for name in names:
            if name == "kafka":
                proc = kafka.start(
                    root / "kafka", state.kafka_port, state.kafka_controller_port, _cp("kafka")
                )
            elif name == "s3":
                proc = s3proxy.start(root / "s3", state.s3_port, _cp("s3proxy"))
            else:
                proc = moto_server.start(root / "moto", state.aws_port)
            started[name] = proc
            pids[name] = proc.pid
            starts[name] = procs.start_time(proc)
    except Exception:
        for proc in started.values():
            procs.stop_process(proc)
        raise
    return started


def _cp(module: str) -> str:
    from loglake_tools import jars

    try:
        missing = jars.missing_jars(module)
    except jars.JarsError:  # no repository (an installed copy): trust the jars folder
        missing = [] if list((jars.jars_dir() / module).glob("*.jar")) else [module]
    if missing:
        try:
            jars.ensure_jars()
        except Exception as exc:
            raise JarsMissingError(
                f"the {module} jars are missing ({', '.join(missing[:3])} ...) and fetching "
                f"them failed: {exc}; run `loglake jars fetch`"
            ) from exc
    try:
        return jars.classpath(module)
    except jars.JarsError as exc:
        raise JarsMissingError(str(exc)) from exc


def ensure_stack_up(
    *,
    kafka_port: int | None = None,
    s3_port: int | None = None,
    aws_port: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    fresh: bool = False,
    directory: str | Path | None = None,
) -> StackState:
    """Make sure the whole stack runs and answers; return its state (see `start_stack`)."""
    return start_stack(
        kafka_port=kafka_port,
        s3_port=s3_port,
        aws_port=aws_port,
        timeout=timeout,
        fresh=fresh,
        directory=directory,
    ).state


def stack_status(directory: str | Path | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The stack's status: per service whether it is up, its endpoint and pid.

    Returns:
        ``{"kafka": {"up", "bootstrap", "pid"}, "s3": {"up", "endpoint", "pid"},
        "aws": {"up", "endpoint", "pid"}}`` (``pid`` is None when nothing runs).
    """
    state = read_state(directory)
    if state is None:
        state = _wanted_state(state_dir(directory), None, None, None, None)
    out: dict[str, Any] = {}
    for service in SERVICES:
        proc = running_process(state, service)
        up = proc is not None and answers(state, service, timeout)
        key = "bootstrap" if service == "kafka" else "endpoint"
        out[service] = {"up": up, key: _endpoint(state, service), "pid": proc.pid if proc else None}
    return out


def stop_stack(
    directory: str | Path | None = None,
    services: tuple[str, ...] = SERVICES,
    *,
    purge: bool = False,
) -> list[str]:
    """Stop the recorded servers (SIGTERM, wait, SIGKILL); with ``purge`` wipe the data too.

    Returns:
        The services that were running and are now stopped.
    """
    folder = state_dir(directory)
    with _locked(folder):
        stopped = _stop_recorded(folder, services)
        if purge:
            _wipe(folder)
    return stopped


def _stop_recorded(folder: Path, services: tuple[str, ...]) -> list[str]:
    state = read_state(folder)
    if state is None:
        return []
    stopped: list[str] = []
    running: list[psutil.Process] = []
    pids = dict(state.pids)
    starts = dict(state.start_times)
    for service in services:
        proc = running_process(state, service)
        if proc is not None:
            log.info("stopping %s (pid %s)", _LABELS[service], proc.pid)
            running.append(proc)
            stopped.append(service)
        pids.pop(service, None)
        starts.pop(service, None)
    procs.stop_processes(running)
    if pids:
        write_state(replace(state, pids=pids, start_times=starts))
    else:
        remove_state(folder)
    return stopped


def _wipe(folder: Path) -> None:
    for name in ("kafka", "s3", "moto", "logs"):
        shutil.rmtree(folder / name, ignore_errors=True)
    remove_state(folder)
