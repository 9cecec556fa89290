"""Errors of loglake_glue_etl. Every one derives from ``EtlError`` (a ``LoglakeError``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loglake_core.errors import LoglakeError

if TYPE_CHECKING:
    from loglake_glue_etl.quality import GateFailure


class EtlError(LoglakeError):
    """The ETL run failed; the message says why and nothing was written."""


class QualityGateError(EtlError):
    """One or more data-quality gates failed; nothing was written.

    Attributes:
        failures: every failed check, each naming the date, the check and the numbers.
    """

    def __init__(self, failures: list[GateFailure]) -> None:
        self.failures = failures
        lines = "\n".join(f"  - {f.describe()}" for f in failures)
        super().__init__(f"{len(failures)} quality gate(s) failed, nothing written:\n{lines}")


class InjectedFailureError(EtlError):
    """A failure requested on purpose (``LOGLAKE_ETL_FAIL=1`` or ``--fail``) for tests and demos."""
