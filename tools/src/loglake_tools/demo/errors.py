"""Errors of the demo: each says what went wrong and what to do about it."""

from __future__ import annotations

import click


class DemoError(click.ClickException):
    """The demo cannot go on; the message names the cause and the fix."""
