"""The demo, stage by stage: stack, topic, produce, ingest, orchestrate, reconcile, report.

Each stage prints what it does and how long it took. Everything runs against the local
stack's real servers; ingest and the ETL run as their own Spark processes (the ETL
through the orchestrator's local job runner), exactly as they would on a cluster.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from loglake_tools.demo.config import PARTITIONS, Bookkeeping, DemoConfig
from loglake_tools.demo.errors import DemoError
from loglake_tools.demo.ingest import FOLLOW_TRIGGER_SECONDS, IngestProcess
from loglake_tools.demo.view import StageClock

if TYPE_CHECKING:
    from rich.console import Console

    from loglake_core.control_store import ControlStore
    from loglake_tools.stack import StackState

log = logging.getLogger(__name__)

#: Longest the demo waits for ingest to read everything, and for the ETL runs.
INGEST_TIMEOUT_SECONDS: Final = 1800.0
ORCHESTRATE_TIMEOUT_SECONDS: Final = 1800.0
#: Seconds between two orchestrator ticks (a Lambda would tick every few minutes).
TICK_SECONDS: Final = 2.0
#: Retry back-off of the demo's orchestrator: short, so a failed run retries promptly.
BACKOFF_BASE_SECONDS: Final = 2.0
BACKOFF_CAP_SECONDS: Final = 10.0
#: All of the demo's dates fit one run (late events reach up to 3 days back).
MAX_DATES_PER_RUN: Final = 31
POLL_SECONDS: Final = 0.5
FAKE_AWS_ENV: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class Demo:
    """One run of the demo.

    Args:
        config: what to run.
        console: where to print.
    """

    def __init__(self, config: DemoConfig, console: Console) -> None:
        self.cfg = config
        self.console = console
        self.clock = StageClock(console)
        self.book: Bookkeeping = Bookkeeping.open(config.state_dir)
        self.stack: StackState | None = None
        self.results: dict[str, Any] = {}

    # ------------------------------------------------------------------ main
    def run(self) -> dict[str, Any]:
        """Run every stage; returns what the run measured (also saved in demo.json)."""
        self._start_stack()
        self._prepare()
        ingest = self._ingest_process()
        try:
            if self.cfg.follow:
                ingest.start()
            self._produce(ingest if self.cfg.follow else None)
            self._ingest(ingest)
        finally:
            ingest.stop()  # no-op once it exited; stops a stream between two batches
        self._orchestrate()
        from loglake_tools.demo.results import finish

        return finish(self)

    @property
    def state(self) -> StackState:
        """The local stack (after the stack stage)."""
        assert self.stack is not None
        return self.stack

    @property
    def s3_endpoint(self) -> str | None:
        """The S3 endpoint for an S3 lake (none for a local lake)."""
        return None if self.cfg.layout.is_local else self.state.s3_endpoint

    def store(self) -> ControlStore:
        """The demo lake's control table."""
        from loglake_core.control_store import ControlStore, default_client

        return ControlStore(self.book.control_table, client=default_client(self.state.aws_endpoint))

    # ------------------------------------------------------------------ stages
    def _start_stack(self) -> None:
        from loglake_tools.jars import ensure_class_archive, ensure_jars
        from loglake_tools.stack import ensure_stack_up

        first_run = "the first run downloads them and builds the class archive"
        with self.clock.stage("JVM jars", f"checking the jars ({first_run})"):
            ensure_jars()
            ensure_class_archive()
        with self.clock.stage("local stack", "starting Kafka, s3proxy and moto (or reusing)"):
            self.stack = ensure_stack_up()
        for key, value in FAKE_AWS_ENV.items():
            os.environ.setdefault(key, value)
        # Ingest and the ETL (subprocesses) find the stack through these variables.
        os.environ.update(self.state.env())
        if not self.cfg.layout.is_local:
            _s3a_bucket_credentials(self.cfg.layout.bucket)
        self.clock.note(
            f"Kafka {self.state.kafka_bootstrap} · S3 API {self.state.s3_endpoint} · "
            f"moto {self.state.aws_endpoint}"
        )

    def _prepare(self) -> None:
        from loglake_tools.demo import resources
        from loglake_tools.stack import create_topic

        cfg = self.cfg
        with self.clock.stage("topic, control table and lake"):
            if cfg.fresh:
                resources.delete_topic_quietly(self.state.kafka_bootstrap, self.book.topic)
                resources.delete_control_table(self.book.control_table, self.state.aws_endpoint)
                if not cfg.layout.is_local:
                    resources.ensure_bucket(cfg.layout, self.state.s3_endpoint)
                resources.wipe_lake(cfg.layout, self.s3_endpoint)
                shutil.rmtree(cfg.state_dir / "runs", ignore_errors=True)
                shutil.rmtree(cfg.state_dir / "checkpoints", ignore_errors=True)
                self.book.path.unlink(missing_ok=True)
                self.book = Bookkeeping.open(cfg.state_dir)
                self.clock.note("--fresh: removed the previous topic, control table and tables")
            elif not self.book.path.exists():
                if not cfg.layout.is_local:
                    resources.ensure_bucket(cfg.layout, self.state.s3_endpoint)
                if resources.lake_has_tables(cfg.layout, self.s3_endpoint):
                    raise DemoError(
                        f"the lake {cfg.lake} already holds tables that this demo did not "
                        "record; pass --fresh to remove its raw/, processed/ and _checkpoints/ "
                        "folders, or choose another --lake"
                    )
            elif self.book.summary is not None and self.book.load != cfg.load:
                raise DemoError(
                    f"the demo lake {cfg.lake} was produced with {self.book.load}; this run asks "
                    f"for {cfg.load}. Pass --fresh to start over with the new load, or the "
                    "same options to reuse it"
                )
            if not cfg.layout.is_local:
                resources.ensure_bucket(cfg.layout, self.state.s3_endpoint)
            create_topic(self.state.kafka_bootstrap, self.book.topic, PARTITIONS)
            self.store().create_table_if_missing()
            self.book.load = cfg.load
            self.book.save()
            self.clock.note(
                f"topic [bold]{self.book.topic}[/] · control table "
                f"[bold]{self.book.control_table}[/] · lake [bold]{cfg.lake}[/]"
            )

    def _produce(self, ingest: IngestProcess | None) -> None:
        from loglake_tools.demo.resources import TopicCounter

        counter = TopicCounter(self.state.kafka_bootstrap, self.book.topic)
        try:
            in_topic = counter.count()
            if self.book.summary is not None:
                with self.clock.stage("produce"):
                    expected = int(self.book.summary["events_total"])
                    if in_topic != expected:
                        raise DemoError(
                            f"topic {self.book.topic} holds {in_topic:,} records but this demo "
                            f"produced {expected:,} (was the stack purged?); pass --fresh"
                        )
                    self.clock.note(
                        f"already produced {expected:,} records to {self.book.topic}: nothing "
                        "new is produced (pass --fresh to start over)"
                    )
                return
            if in_topic:
                raise DemoError(
                    f"topic {self.book.topic} holds {in_topic:,} records from an interrupted run; "
                    "pass --fresh to start over"
                )
            with self.clock.stage("produce"):
                self._produce_with_progress(counter, ingest)
        finally:
            counter.close()
        s = self.book.summary or {}
        self.clock.note(
            f"{s['events_total']:,} records: {s['valid']:,} valid ({s['late']:,} late), "
            f"{s['duplicates']:,} duplicates, {s['malformed']:,} malformed · "
            f"{s.get('rate') or 0:,.0f} records/s"
        )

    def _produce_with_progress(self, counter: Any, ingest: IngestProcess | None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        from loglake_tools.produce import produce_parallel

        cfg = self.cfg
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["summary"] = produce_parallel(
                    self.state.kafka_bootstrap, self.book.topic, cfg.events, seed=cfg.seed,
                    rate=cfg.rate, malformed_share=cfg.malformed_share,
                    duplicate_share=cfg.duplicate_share, late_share=cfg.late_share,
                    days=float(cfg.days), partitions=PARTITIONS, create=False,
                )  # fmt: skip
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=work, name="loglake-demo-produce", daemon=True)
        columns = (
            "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        )  # fmt: skip
        with Progress(*columns, console=self.console, transient=False) as progress:
            sent = progress.add_task("   produced", total=cfg.events)
            read = progress.add_task("   ingested", total=cfg.events) if ingest else None
            thread.start()
            while thread.is_alive():
                thread.join(POLL_SECONDS)
                progress.update(sent, completed=counter.count())
                if ingest is not None and read is not None:
                    ingest.check(expect_exit=False)
                    progress.update(read, completed=self._records_read())
            progress.update(sent, completed=counter.count())
        if "error" in outcome:
            raise DemoError(f"producing to {self.book.topic} failed: {outcome['error']}")
        summary = outcome["summary"]
        self.book.summary = summary
        self.book.save()
        (self.cfg.state_dir / "producer-summary.json").write_text(
            json.dumps(summary, indent=2) + "\n", encoding="utf-8"
        )

    def _ingest_process(self) -> IngestProcess:
        args = [
            "--topic", self.book.topic, "--lake", self.cfg.lake,
            "--bootstrap", self.state.kafka_bootstrap,
            "--control-table", self.book.control_table,
            "--aws-endpoint", self.state.aws_endpoint,
        ]  # fmt: skip
        if self.s3_endpoint:
            # s3proxy's filesystem backend loses the empty "folders" Spark's offset log
            # lists, so the checkpoint of an s3a demo lake stays on local disk.
            checkpoint = self.cfg.state_dir / "checkpoints" / "ingest"
            args += ["--s3-endpoint", self.s3_endpoint, "--checkpoint", checkpoint.as_uri()]
        if self.cfg.follow:
            args += ["--trigger-seconds", str(FOLLOW_TRIGGER_SECONDS)]
        else:
            args.append("--available-now")
        return IngestProcess(
            args=args,
            log_path=self.cfg.state_dir / "logs" / "ingest.log",
            pid_path=self.cfg.state_dir / "ingest.pid",
            env=dict(os.environ),
        )

    def _records_read(self) -> int:
        progress = self.store().get_stream_progress("ingest")
        return int(progress.counters.get("records_read", 0)) if progress else 0

    def _ingest(self, ingest: IngestProcess) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        total = int((self.book.summary or {})["events_total"])
        mode = "streaming (--follow)" if self.cfg.follow else "available-now"
        with self.clock.stage(f"ingest: Kafka -> raw ({mode})"):
            if not self.cfg.follow and self._records_read() >= total:
                self.clock.note(f"all {total:,} records were already ingested")
                return
            columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            deadline = time.monotonic() + INGEST_TIMEOUT_SECONDS
            with Progress(*columns, console=self.console) as progress:
                task = progress.add_task("   records read", total=total)
                if not self.cfg.follow:
                    ingest.start()
                rounds = 0
                while True:
                    done = self._records_read()
                    progress.update(task, completed=done)
                    if done >= total:
                        break
                    code = ingest.check(expect_exit=not self.cfg.follow)
                    if code == 0 and self._records_read() >= total:
                        continue  # it recorded its last batch just before exiting
                    if code == 0:  # drained, but not everything: one more round
                        rounds += 1
                        if rounds > 1:
                            raise DemoError(
                                f"ingest drained the topic but recorded {done:,} of {total:,} "
                                f"records; see {ingest.log_path}"
                            )
                        ingest.start()
                    if time.monotonic() > deadline:
                        raise DemoError(
                            f"ingest read only {done:,} of {total:,} records in "
                            f"{INGEST_TIMEOUT_SECONDS:.0f}s; see {ingest.log_path}"
                        )
                    time.sleep(POLL_SECONDS)
                if not self.cfg.follow:
                    ingest.wait(INGEST_TIMEOUT_SECONDS)
            if ingest.deaths:
                self.clock.note(
                    f"[yellow]ingest died {len(ingest.deaths)}x ({', '.join(ingest.deaths)}) and "
                    "was restarted from its checkpoint[/]"
                )
            self.results["ingest_restarts"] = ingest.restarts

    def _orchestrate(self) -> None:
        from loglake_tools.demo.orchestrate import run_orchestrator

        with self.clock.stage("orchestrator: ETL raw -> processed (local job runner)"):
            self.results["etl_runs"] = run_orchestrator(self)


#: Spark's launcher reads extra spark-submit arguments from this variable.
ENV_PYSPARK_SUBMIT_ARGS: Final = "PYSPARK_SUBMIT_ARGS"


def _s3a_bucket_credentials(bucket: str) -> None:
    """Give the Spark subprocesses static credentials for the demo's bucket on s3proxy.

    A local shim: the session's default s3a provider chain names a class that hadoop-aws
    3.4 does not have (``org.apache.hadoop.fs.s3a.auth.TemporaryAWSCredentialsProvider``;
    it is ``org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider``), so every s3a
    access fails. Per-bucket settings take precedence over the global chain and touch no
    other bucket. A ``PYSPARK_SUBMIT_ARGS`` already set by the user is left alone.
    """
    if os.environ.get(ENV_PYSPARK_SUBMIT_ARGS):
        return
    prefix = f"spark.hadoop.fs.s3a.bucket.{bucket}."
    settings = {
        "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "access.key": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "secret.key": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    }
    args = [f"--conf {prefix}{key}={value}" for key, value in settings.items()]
    os.environ[ENV_PYSPARK_SUBMIT_ARGS] = " ".join([*args, "pyspark-shell"])
