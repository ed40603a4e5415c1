"""Tag log lines with the id of the reconcile pass that wrote them.

The manager sets a fresh id before each pass. The id follows the pass through
every await, because each worker is its own task with its own context. Lines
written outside a pass get no prefix.
"""

from __future__ import annotations

import logging
import secrets
from contextvars import ContextVar
from typing import Any

RECONCILE_ID: ContextVar[str] = ContextVar("reconcile_id", default="-")


def new_reconcile_id() -> str:
    """Set and return a short random id for the pass that starts now."""
    value = secrets.token_hex(4)
    RECONCILE_ID.set(value)
    return value


class ReconcileLogger(logging.LoggerAdapter):
    """A logger that prefixes each message written during a pass with ``[reconcile <id>]``."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        reconcile_id = RECONCILE_ID.get()
        if reconcile_id == "-":
            return msg, kwargs
        return f"[reconcile {reconcile_id}] {msg}", kwargs


def get_logger(name: str) -> ReconcileLogger:
    return ReconcileLogger(logging.getLogger(name), {})
