"""The exceptions users see, each mapped to one process exit status.

Think of these as the receptionist's answers: each one says, in one line, what went wrong and what to do. The CLI
prints ``str(error)`` and exits with ``error.exit_code``; the library raises them unchanged, so a notebook shows the
same one-line message.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class SimlibError(Exception):
    """Base class: a problem with a one-line explanation and an exit status."""

    exit_code: int = EXIT_INTERNAL

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a wall of traceback
        return [f"{type(self).__name__}: {self}"]


class UsageError(SimlibError, ValueError):
    """A flag or argument is out of range or malformed (exit 2). The message names the flag."""

    exit_code = EXIT_USAGE


class ServerUnavailable(SimlibError):
    """A server cannot be reached, rejected our credentials or TLS, or no server binary exists (exit 3)."""

    exit_code = EXIT_UNREACHABLE


class ServerRefused(SimlibError):
    """A server answered but is unsafe to use: foreign keys, a replica, eviction on, the same server twice (exit 4)."""

    exit_code = EXIT_REFUSED


class Interrupted(SimlibError):
    """The run was stopped by Ctrl-C or SIGTERM (exit 130)."""

    exit_code = EXIT_INTERRUPTED
