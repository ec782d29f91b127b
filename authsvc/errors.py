"""The problem+json errors (RFC 9457) every layer raises; nothing here imports aiohttp."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """An error that becomes one RFC 9457 problem+json answer."""

    status = 500
    title = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        return body


class BadRequest(Problem):
    status = 400
    title = "Bad Request"


class Unauthorized(Problem):
    status = 401
    title = "Unauthorized"


class Forbidden(Problem):
    status = 403
    title = "Forbidden"


class NotFound(Problem):
    status = 404
    title = "Not Found"


class Conflict(Problem):
    status = 409
    title = "Conflict"


class PayloadTooLarge(Problem):
    status = 413
    title = "Payload Too Large"


class UnsupportedMediaType(Problem):
    status = 415
    title = "Unsupported Media Type"


class UnprocessableContent(Problem):
    status = 422
    title = "Unprocessable Content"


class TooManyRequests(Problem):
    status = 429
    title = "Too Many Requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(Problem):
    status = 503
    title = "Service Unavailable"


class StorageUnavailable(ServiceUnavailable):
    """The storage backend did not answer in time; the request may be retried."""

    def __init__(self, detail: str = "The storage backend is unavailable; try again shortly.") -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


class Busy(ServiceUnavailable):
    """Too much work is already waiting (the password-hashing queue is full); the request may be retried."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class DuplicateUsername(Conflict):
    def __init__(self) -> None:
        super().__init__("That username is already taken.")


class FieldRefused(UnprocessableContent):
    """A rule refused named inputs; each name becomes a JSON pointer in the answer (`errors`)."""

    def __init__(self, detail: str, fields: dict[str, str]) -> None:
        super().__init__(detail, errors=[{"pointer": f"#/{name}", "detail": why} for name, why in fields.items()])
        self.fields = fields


class WrongPassword(FieldRefused):
    def __init__(self, field: str, detail: str = "The password is wrong.") -> None:
        super().__init__(detail, {field: "is wrong"})
