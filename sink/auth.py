"""Bearer-token authentication of the sink's /v1 API.

The controller generates the token into a Secret that the sink reads from a file and
the metric containers receive in MO_SINK_TOKEN. Health, readiness, OpenAPI and
Prometheus routes stay open, because kubelet probes and scrapers carry no token and
those routes show no run data beyond the exported summaries.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from metrics_operator.sink.errors import ApiError

PROTECTED_PREFIX = "/v1/"


class TokenFileError(ValueError):
    """The token file is missing, unreadable or empty."""


def read_token(path: Path) -> str:
    """Read the bearer token from ``path``; surrounding whitespace (a trailing newline) is dropped."""
    try:
        token = path.read_text().strip()
    except OSError as error:
        raise TokenFileError(f"cannot read token file {path}: {error.strerror}: check --token-file") from None
    if not token:
        raise TokenFileError(f"token file {path} is empty: write the token into it")
    return token


def is_protected(path: str) -> bool:
    return path.startswith(PROTECTED_PREFIX) or path == PROTECTED_PREFIX.rstrip("/")


def check_bearer(authorization: str | None, token: str) -> None:
    """Raise a 401 ApiError unless the Authorization header carries ``token``."""
    if not authorization:
        raise ApiError(401, "unauthorized", "missing Authorization header: send 'Authorization: Bearer <token>'")
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise ApiError(401, "unauthorized", "Authorization header is not a bearer token: send 'Bearer <token>'")
    # compare_digest takes time independent of where the strings differ.
    if not hmac.compare_digest(presented.strip().encode(), token.encode()):
        raise ApiError(401, "unauthorized", "invalid bearer token: use the token from the sink's Secret")
