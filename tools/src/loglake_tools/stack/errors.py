"""Errors of the local stack: each names what failed and how to fix it."""

from __future__ import annotations


class StackError(Exception):
    """Base error of the local stack (a server would not start, answer or stop)."""


class PortInUseError(StackError):
    """A port the stack needs is already taken by another process."""


class ServerStartError(StackError):
    """A server did not start or did not answer in time; the message carries its log tail."""


class JarsMissingError(StackError):
    """The JVM jars a server needs are not in the jars folder."""
