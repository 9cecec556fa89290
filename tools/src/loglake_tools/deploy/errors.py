"""Errors of ``loglake deploy`` / ``loglake destroy``."""

from __future__ import annotations

from loglake_core.errors import LoglakeError


class DeployError(LoglakeError):
    """A deployment step failed; the message says which and what to do."""
