"""``loglake report``: a self-contained HTML report of a lake.

Example:
    >>> from loglake_tools.report import build_report
    >>> build_report("/tmp/lake", "/tmp/report.html")  # doctest: +SKIP
    PosixPath('/tmp/report.html')
"""

from __future__ import annotations

from loglake_tools.report.cli import build_report, report

__all__ = ["build_report", "report"]
