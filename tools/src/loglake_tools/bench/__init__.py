"""``loglake bench``: throughput, latency and scaling, side by side with the alternatives.

Sub-commands ``ingest``, ``latency``, ``etl``, ``scaling`` and ``all``. Each prints its
tables, writes a JSON result (``--out``), and reports the issue's targets as pass/miss
with ratios (never asserted). ``all`` also writes Markdown for ``docs/benchmarks.md`` and
a PNG chart next to the JSON file. Every figure is measured in the same run as the
baselines it is compared with, and the machine, versions and background load are
recorded. ``--smoke`` runs tiny sizes in a few minutes; ``--large`` adds 30 M events to
the scaling run.

Example:
    $ loglake bench all --out bench-results/all.json
    $ loglake bench ingest --smoke
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import click
import psutil

from loglake_tools.bench.config import BenchConfig
from loglake_tools.bench.contenders import RunEnv
from loglake_tools.bench.errors import BenchError

log = logging.getLogger(__name__)

DEFAULT_OUT_DIR: Final = "bench-results"

__all__ = ["BenchConfig", "BenchError", "bench", "run_suite"]

Suite = Callable[[BenchConfig, RunEnv, dict[str, Any]], None]


def _run_env(cfg: BenchConfig) -> RunEnv:
    """Where contenders run: the given broker, or the local stack (started if needed)."""
    from loglake_tools.stack.state import read_state

    if cfg.bootstrap:
        state = read_state()
        pid = state.pids.get("kafka") if state and state.kafka_bootstrap == cfg.bootstrap else None
        bootstrap = cfg.bootstrap
    else:
        from loglake_tools.stack import ensure_stack_up

        try:
            state = ensure_stack_up()
        except Exception as exc:
            raise BenchError(
                f"cannot start the local stack: {exc}; run `loglake stack up` or pass --bootstrap"
            ) from exc
        pid = state.pids.get("kafka")
        bootstrap = state.kafka_bootstrap
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    return RunEnv(
        bootstrap=bootstrap,
        broker_pid=pid,
        workdir=cfg.workdir,
        spark_master=cfg.spark_master,
        timeout=cfg.sizes.timeout_seconds,
    )


class Results(dict[str, Any]):
    """The result of a run, saved to its JSON file after every section.

    A long run that is stopped early keeps what it measured.
    """

    path: Path | None = None

    def save(self) -> None:
        """Write the JSON file now (no-op without a path)."""
        if self.path is not None:
            from loglake_tools.bench.report import write_json

            write_json(self, self.path)


def section(result: dict[str, Any], name: str, fn: Callable[[], dict[str, Any]]) -> None:
    """Run one benchmark into ``result[name]``; a failure is recorded and logged, not raised."""
    started = time.perf_counter()
    try:
        result[name] = fn()
    except BenchError as exc:
        log.error("bench %s failed: %s", name, exc)
        result[name] = {"error": str(exc)}
    except Exception as exc:  # a long run keeps the other sections' figures
        log.exception("bench %s failed unexpectedly", name)
        result[name] = {"error": f"{type(exc).__name__}: {exc}"}
    result[name]["section_seconds"] = time.perf_counter() - started
    if isinstance(result, Results):
        result.save()


def run_suite(
    suite: str, cfg: BenchConfig, body: Suite, *, out: Path | None, command: str,
    docs: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Run ``body`` with a fresh result, then write the JSON (and Markdown + PNG with docs)."""
    from loglake_tools.bench.machine import machine_info
    from loglake_tools.bench.measure import disable_subreaper
    from loglake_tools.bench.report import chart, markdown, print_tables, write_json

    out = out or Path(DEFAULT_OUT_DIR) / f"bench-{suite}{'-smoke' if cfg.smoke else ''}.json"
    children_before = {c.pid for c in psutil.Process().children()}
    env = _run_env(cfg)
    started = time.perf_counter()
    result = Results({
        "suite": suite,
        "command": command,
        "smoke": cfg.smoke,
        "large": cfg.large,
        "sizes": dataclasses.asdict(cfg.sizes),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "workdir": str(cfg.workdir),
    })  # fmt: skip
    result.path = out
    try:
        body(cfg, env, result)
    finally:
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        result["duration_seconds"] = time.perf_counter() - started
        write_json(result, out)
        if docs:
            png = chart(result, out.with_suffix(".png"))
            out.with_suffix(".md").write_text(
                markdown(result, png.name if png else None), encoding="utf-8"
            )
        if not cfg.keep:
            shutil.rmtree(cfg.workdir, ignore_errors=True)
        disable_subreaper(keep=children_before)
    print_tables(result)
    click.echo(f"results: {out}" + (f" (+ {out.with_suffix('.md')}, .png)" if docs else ""))
    failed = [k for k, v in result.items() if isinstance(v, dict) and "error" in v]
    if failed:
        raise click.ClickException(
            f"benchmark(s) {', '.join(failed)} failed; the reasons are in {out}"
        )
    return result


# ---------------------------------------------------------------- suites


def _ingest(cfg: BenchConfig, env: RunEnv, result: dict[str, Any]) -> None:
    from loglake_tools.bench.ingest import bench_ingest

    section(result, "ingest", lambda: bench_ingest(cfg, env))


def _latency(rate: float | None) -> Suite:
    def body(cfg: BenchConfig, env: RunEnv, result: dict[str, Any]) -> None:
        from loglake_tools.bench.latency import bench_latency

        section(result, "latency", lambda: bench_latency(cfg, env, rate=rate))

    return body


def _etl(raw_lake: Path | None) -> Suite:
    def body(cfg: BenchConfig, env: RunEnv, result: dict[str, Any]) -> None:
        from loglake_tools.bench.etl import bench_etl, existing_raw

        section(
            result,
            "etl",
            lambda: bench_etl(cfg, env, existing_raw(raw_lake) if raw_lake else None),
        )

    return body


def _scaling(cfg: BenchConfig, env: RunEnv, result: dict[str, Any]) -> None:
    from loglake_tools.bench.scaling import bench_scaling

    section(result, "scaling", lambda: bench_scaling(cfg, env)[0])


def _all(rate: float | None) -> Suite:
    def body(cfg: BenchConfig, env: RunEnv, result: dict[str, Any]) -> None:
        from loglake_tools.bench.etl import bench_etl
        from loglake_tools.bench.ingest import bench_ingest
        from loglake_tools.bench.latency import bench_latency
        from loglake_tools.bench.scaling import bench_scaling

        section(result, "ingest", lambda: bench_ingest(cfg, env))
        capacity = _capacity(result.get("ingest", {}))
        chosen = rate or (capacity * cfg.sizes.latency_load_share if capacity else None)
        if cfg.smoke and chosen:
            chosen = min(chosen, float(cfg.sizes.latency_default_rate))
        section(result, "latency", lambda: bench_latency(cfg, env, rate=chosen))
        if result["latency"].get("rate") is not None:
            result["latency"]["capacity_events_per_second"] = capacity
        kept: dict[str, Any] = {}

        def scaling() -> dict[str, Any]:
            out, raw = bench_scaling(cfg, env, keep_raw_of=cfg.sizes.etl_events)
            kept["raw"] = raw
            return out

        section(result, "scaling", scaling)
        section(result, "etl", lambda: bench_etl(cfg, env, kept.get("raw")))

    return body


def _capacity(ingest: dict[str, Any]) -> float | None:
    """Our ingest job's sustained events/s from an ingest result, if measured."""
    for c in ingest.get("contenders", []):
        if c.get("name") == "loglake":
            value = (c.get("median") or {}).get("drain_events_per_second")
            return float(value) if value else None
    return None


# ---------------------------------------------------------------- command line


def _options(fn: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                     help=f"JSON result file [{DEFAULT_OUT_DIR}/bench-<name>.json]."),
        click.option("--smoke", is_flag=True, help="Tiny sizes, one run each (a few minutes)."),
        click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
                     help="Folder for lakes and logs [$LOGLAKE_BENCH_DIR or a temp folder]."),
        click.option("--bootstrap", help="Kafka bootstrap servers [the local stack's]."),
        click.option("--keep", is_flag=True, help="Keep lakes, logs and topics afterwards."),
        click.option("--repetitions", type=click.IntRange(1, 20),
                     help="Runs of a measurement shorter than a minute [3]."),
        click.option("--scale", type=click.FloatRange(min=0.001, max=100.0),
                     help="Multiply every event count (e.g. 0.2) when time is short [1]."),
    ]  # fmt: skip
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _config(**kw: Any) -> BenchConfig:
    return BenchConfig.create(
        workdir=kw.get("workdir"),
        smoke=bool(kw.get("smoke")),
        large=bool(kw.get("large")),
        bootstrap=kw.get("bootstrap"),
        keep=bool(kw.get("keep")),
        repetitions=kw.get("repetitions"),
        scale=kw.get("scale"),
    )


def _command(name: str, kw: dict[str, Any]) -> str:
    parts = ["loglake", "bench", name]
    for key in ("smoke", "large", "keep"):
        if kw.get(key):
            parts.append(f"--{key}")
    for key in ("out", "workdir", "bootstrap", "repetitions", "scale", "rate", "raw_lake"):
        if kw.get(key) is not None:
            parts += [f"--{key}", str(kw[key])]
    return " ".join(parts)


def _invoke(name: str, body: Suite, kw: dict[str, Any], *, docs: bool = False) -> None:
    try:
        run_suite(name, _config(**kw), body, out=kw.get("out"), command=_command(name, kw),
                  docs=docs)  # fmt: skip
    except BenchError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def bench() -> None:
    """Benchmarks: ingest, latency, etl, scaling, all (targets reported, never asserted)."""


@bench.command("ingest")
@_options
def ingest_cmd(**kw: Any) -> None:
    """Drain a pre-loaded topic with our ingest job, bare Spark and a Python consumer."""
    _invoke("ingest", _ingest, kw)


@bench.command("latency")
@_options
@click.option("--rate", type=click.FloatRange(min=1), help="Producer events/s [20,000].")
def latency_cmd(rate: float | None, **kw: Any) -> None:
    """End-to-end latency of our ingest job at a fixed producer rate (5 s trigger)."""
    _invoke("latency", _latency(rate), {**kw, "rate": rate})


@bench.command("etl")
@_options
@click.option(
    "--raw-lake",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Measure on this lake's raw table (e.g. one kept by --keep) instead of ingesting "
    "a new one; it is never deleted.",
)
def etl_cmd(raw_lake: Path | None, **kw: Any) -> None:
    """Our ETL job vs DuckDB on the same raw table (10 M events over 7 days)."""
    _invoke("etl", _etl(raw_lake), {**kw, "raw_lake": raw_lake})


@bench.command("scaling")
@_options
@click.option("--large", is_flag=True, help="Also run 30 M events.")
def scaling_cmd(**kw: Any) -> None:
    """Ingest and ETL at 1 M, 3 M and 10 M events: time per million events."""
    _invoke("scaling", _scaling, kw)


@bench.command("all")
@_options
@click.option("--large", is_flag=True, help="Also run 30 M events in the scaling part.")
@click.option("--rate", type=click.FloatRange(min=1),
              help="Latency producer events/s [50% of the measured ingest capacity].")  # fmt: skip
def all_cmd(rate: float | None, **kw: Any) -> None:
    """Every benchmark; also writes Markdown (for docs/benchmarks.md) and a PNG chart."""
    _invoke("all", _all(rate), {**kw, "rate": rate}, docs=True)


@bench.command("render")
@click.argument("result", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--markdown",
    "md_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the Markdown here.",
)
@click.option("--chart", "png_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the PNG chart here.")  # fmt: skip
def render_cmd(result: Path, md_path: Path | None, png_path: Path | None) -> None:
    """Print the tables of a saved JSON result (and write its Markdown and chart)."""
    import json

    from loglake_tools.bench.report import chart, markdown, print_tables

    try:
        data = json.loads(result.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.ClickException(f"{result} is not a benchmark JSON result: {exc}") from exc
    if not isinstance(data, dict) or "machine" not in data:
        raise click.ClickException(
            f"{result} is not a benchmark result (no 'machine' key); pass a file written by "
            "`loglake bench ... --out`"
        )
    print_tables(data)
    png = chart(data, png_path) if png_path else None
    if md_path:
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(markdown(data, png.name if png else None), encoding="utf-8")
