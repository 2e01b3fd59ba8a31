"""Service errors; ``api.main`` turns each into an HTTP answer that says what is wrong."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = list(errors or [])


class NotFound(ServiceError):
    """Unknown id, or an id of another co-op (which must look the same as unknown)."""

    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    status_code = 409


class Invalid(ServiceError):
    """Well-formed request whose content breaks a rule (window, week, checker)."""

    status_code = 422


class Unauthorized(ServiceError):
    status_code = 401
