"""JSON errors for the sink's HTTP API.

Every 4xx and 5xx response body is ``{"error": message, "reason": reason, ...}``: the
message names the value at fault and the fix, and the reason is a stable token that
clients and the ``metrics_sink_batches_rejected_total`` counter use.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

# At most one log line per rejection reason in this many seconds; the rest are counted.
REJECTION_LOG_INTERVAL_SECONDS = 10.0


class ApiError(Exception):
    """A request the sink rejects, with its HTTP status, a reason token and a message."""

    def __init__(self, status: int, reason: str, message: str, **details: Any):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details

    def response(self) -> web.Response:
        body = {"error": self.message, "reason": self.reason, **self.details}
        return web.json_response(body, status=self.status)


# Reasons for aiohttp's own HTTP errors (routing, methods, body size), by status.
HTTP_STATUS_REASONS = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_content_type",
}


def from_http_exception(request: web.Request, error: web.HTTPException) -> ApiError:
    """Translate one of aiohttp's HTTP errors into an ApiError with a JSON body."""
    reason = HTTP_STATUS_REASONS.get(error.status, "bad_request" if error.status < 500 else "internal_error")
    if error.status in (404, 405):
        return ApiError(
            error.status, reason, f"no route for {request.method} {request.path}: see /openapi.json for the routes"
        )
    message = error.text if error.text and not error.text.startswith(f"{error.status}:") else error.reason
    return ApiError(error.status, reason, f"{message} ({error.reason})" if message != error.reason else message)


class RejectionLog:
    """Logs rejected requests with their run uid, at most once per reason per interval."""

    def __init__(self, interval: float = REJECTION_LOG_INTERVAL_SECONDS):
        self.interval = interval
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def record(self, request: web.Request, error: ApiError) -> None:
        now = time.monotonic()
        last = self._last_logged.get(error.reason)
        if last is not None and now - last < self.interval:
            self._suppressed[error.reason] = self._suppressed.get(error.reason, 0) + 1
            return
        suppressed = self._suppressed.pop(error.reason, 0)
        self._last_logged[error.reason] = now
        log.warning(
            "rejected %s %s (run %s): %d %s: %s%s",
            request.method,
            request.path,
            request.match_info.get("uid", "-"),
            error.status,
            error.reason,
            error.message,
            f" ({suppressed} more with this reason since the last line)" if suppressed else "",
        )


def json_body_error(error: json.JSONDecodeError) -> ApiError:
    """Build the ApiError for a body that is not valid JSON, with the position of the fault."""
    return ApiError(
        400,
        "malformed_body",
        f"request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
    )
