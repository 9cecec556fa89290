"""``loglake demo`` (``hatch run demo``): the whole pipeline on this machine, end to end.

Example:
    >>> from loglake_tools.demo import DemoConfig, run_demo
    >>> run_demo(DemoConfig.resolve(events=50_000, days=2))  # doctest: +SKIP
"""

from __future__ import annotations

from loglake_tools.demo.cli import demo, run_demo
from loglake_tools.demo.config import DemoConfig

__all__ = ["DemoConfig", "demo", "run_demo"]
