"""Error kinds that decide what the controller does after a failed reconcile.

- ``TemporaryError``: retry the key with per-key exponential backoff.
- ``TerminalError``: the object cannot succeed as written; record a status condition, do not retry.
- ``ApiError`` with status 409 (conflict or already exists): requeue quietly, the cache is behind.
- ``ApiError`` with status 404: the object is gone; nothing to do.
"""

from __future__ import annotations

import json


class ApiError(Exception):
    """A Kubernetes API request that returned an error status."""

    def __init__(self, status: int, reason: str, message: str, *, verb: str = "", path: str = ""):
        self.status = status
        self.reason = reason
        self.message = message
        self.verb = verb
        self.path = path
        super().__init__(f"{verb} {path} failed with {status} {reason}: {message}")

    @classmethod
    def from_response(cls, status: int, text: str, *, verb: str, path: str) -> ApiError:
        """Build an error from a response body, which is a metav1.Status object when the apiserver wrote it."""
        try:
            body = json.loads(text)
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        # Bodies are shortened because a webhook may respond with a whole page of HTML.
        message = body.get("message") or text[:300]
        return cls(status, body.get("reason", ""), message, verb=verb, path=path)

    @property
    def is_conflict(self) -> bool:
        return self.status == 409

    @property
    def is_not_found(self) -> bool:
        return self.status == 404

    @property
    def is_gone(self) -> bool:
        return self.status == 410

    @property
    def is_temporary(self) -> bool:
        """Whether retrying may succeed: throttling, timeouts and server errors."""
        return self.status in (429, 500, 502, 503, 504) or self.status == 0


class TemporaryError(Exception):
    """A failure that may pass: retry with backoff."""


class TerminalError(Exception):
    """A failure that retrying cannot fix; ``reason`` is a CamelCase condition reason."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        self.message = message
        super().__init__(message)
