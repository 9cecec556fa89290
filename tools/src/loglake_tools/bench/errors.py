"""Errors of the benchmark suite."""

from __future__ import annotations


class BenchError(Exception):
    """Base error of ``loglake bench``: the message says what failed and what to do."""


class ComponentNotAvailableError(BenchError):
    """A measured component (ingest job, ETL job, producer) is not installed or not built yet."""


class ContenderFailedError(BenchError):
    """A measured process exited with an error; the message holds the tail of its output."""


class ResultMismatchError(BenchError):
    """Two contenders that must agree (e.g. row counts of the ETL and DuckDB) do not."""
