"""Errors of loglake_core. Every loglake error derives from ``LoglakeError``."""

from __future__ import annotations


class LoglakeError(Exception):
    """Base of every error loglake raises on purpose; its message is meant for people."""


class ConfigError(LoglakeError, ValueError):
    """A setting is missing or invalid; the message names it, its value and the fix."""


class ContractError(LoglakeError):
    """Data broke the event contract where it must not (e.g. a table with the wrong schema)."""
