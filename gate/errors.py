"""Exceptions that carry the exit code a user sees (DESIGN.md, "Exit codes")."""

from __future__ import annotations

from typing import TypeVar

EXIT_PASS = 0
EXIT_CLOSED = 1
EXIT_USAGE = 2
EXIT_UNEVALUATED = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class GateError(Exception):
    """Base of every error the CLI turns into a message and an exit code (never a traceback)."""

    exit_code = EXIT_UNEVALUATED


class ConfigError(GateError):
    """Bad input: names the file, line and key path when known."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.file, self.line, self.key, self.detail = file, line, key, message
        where = ""
        if file:
            where = file + (f":{line}" if line else "")
        if key:
            where = f"{where} at {key}" if where else key
        super().__init__(f"{where}: {message}" if where else message)


class GateClosed(GateError):
    """A verdict: do not promote (precheck said no, Kargo refused, the Promotion failed)."""

    exit_code = EXIT_CLOSED


class EvaluationError(GateError):
    """Could not evaluate: unreachable, authentication failed, permission denied, a permanent API error."""

    exit_code = EXIT_UNEVALUATED


class TransientError(EvaluationError):
    """Worth another try later (5xx, 429, connection refused, read timeout)."""


class AuthError(EvaluationError):
    """The credentials were rejected (401)."""


class PermissionDenied(EvaluationError):
    """The gate's own identity may not do something it needs (403). `permission` names the missing rule."""

    def __init__(self, message: str, permission: object | None = None) -> None:
        self.permission = permission
        super().__init__(message)


E = TypeVar("E", bound=BaseException)


def from_kargo_api(exc: E) -> E:
    """Mark `exc` as the Kargo API's (not the cluster's): its hint then names KARGO_API_ADDRESS/TOKEN."""
    exc.kargo_api = True  # type: ignore[attr-defined]
    return exc


def is_from_kargo_api(exc: BaseException) -> bool:
    return bool(getattr(exc, "kargo_api", False))
