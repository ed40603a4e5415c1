"""Parse and validate the bodies of ingest requests into store types.

Every function raises ApiError with a 4xx status and a message naming the field at
fault, so a bad batch is rejected before anything is written.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from metrics_operator.containers.common.writer import ResultRow
from metrics_operator.sink.errors import ApiError, json_body_error
from metrics_operator.sink.store import RUN_STATUSES, SAMPLE_COLUMN_TYPES, Run

JSON_TYPE = "application/json"
ARROW_STREAM_TYPE = "application/vnd.apache.arrow.stream"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_FIELD = "idempotencyKey"

# Keys are client-generated (the push client uses UUIDs); printable ASCII keeps logs readable.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")
MAX_TEXT_LENGTH = 253
TEXT_COLUMNS = ("metric", "pod", "series", "field")
NUMBER_COLUMNS = ("timestamp", "value")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON body that must be an object."""
    try:
        document = json.loads(body)
    except json.JSONDecodeError as error:
        raise json_body_error(error) from None
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_body", "request body is not UTF-8 text") from None
    if not isinstance(document, dict):
        raise ApiError(400, "malformed_body", f"request body must be a JSON object, not {type(document).__name__}")
    return document


def idempotency_key(header: str | None, document: dict[str, Any] | None) -> str:
    """Return the batch's idempotency key from the header or, failing that, the body field."""
    key = header
    if key is None and document is not None:
        key = document.get(IDEMPOTENCY_FIELD)
    if key is None:
        raise ApiError(
            400,
            "missing_idempotency_key",
            f"missing idempotency key: send the {IDEMPOTENCY_HEADER} header or the {IDEMPOTENCY_FIELD!r} body field, "
            "with the same value when the batch is retried",
        )
    if not isinstance(key, str) or not IDEMPOTENCY_KEY_PATTERN.match(key):
        raise ApiError(
            400,
            "missing_idempotency_key",
            f"invalid idempotency key {str(key)[:40]!r}: use 1 to 128 printable ASCII characters without spaces",
        )
    return key


def _check_row_count(rows: int, max_rows: int, row_kind: str) -> None:
    if rows > max_rows:
        raise ApiError(
            400,
            "too_many_rows",
            f"batch has {rows} {row_kind}, more than the limit of {max_rows}: split it into smaller batches",
            limit=max_rows,
        )


def sample_table_from_json(document: dict[str, Any], max_rows: int) -> pa.Table:
    """Build the Arrow batch from JSON columns (one array per SampleColumns field)."""
    missing = [name for name in SAMPLE_COLUMN_TYPES if name not in document]
    if missing:
        raise ApiError(
            400,
            "invalid_columns",
            f"missing sample columns: {', '.join(missing)}; send arrays {', '.join(SAMPLE_COLUMN_TYPES)}",
        )
    not_lists = [name for name in SAMPLE_COLUMN_TYPES if not isinstance(document[name], list)]
    if not_lists:
        raise ApiError(400, "invalid_columns", f"sample columns must be JSON arrays: {', '.join(not_lists)} are not")

    lengths = {name: len(document[name]) for name in SAMPLE_COLUMN_TYPES}
    if len(set(lengths.values())) != 1:
        length_list = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ApiError(
            400, "invalid_columns", f"sample columns differ in length ({length_list}): send one value per row in each", lengths=lengths
        )
    _check_row_count(lengths["value"], max_rows, "sample rows")

    arrays = {}
    for name, arrow_type in SAMPLE_COLUMN_TYPES.items():
        values = document[name]
        # pyarrow would read true/false as 1/0; a boolean is a bug in the sender.
        if name in NUMBER_COLUMNS and any(type(value) is bool for value in values):
            raise ApiError(400, "invalid_columns", f"column {name!r} contains a boolean: send numbers")
        try:
            arrays[name] = pa.array(values, arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            expected = "strings" if name in TEXT_COLUMNS else "numbers"
            raise ApiError(400, "invalid_columns", f"column {name!r} must contain {expected}: {error}") from None
    return validate_sample_table(pa.table(arrays))


def sample_table_from_arrow(body: bytes, max_rows: int) -> pa.Table:
    """Read an Arrow IPC stream whose columns are those of SampleColumns."""
    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, OSError) as error:
        raise ApiError(400, "malformed_body", f"request body is not an Arrow IPC stream: {error}") from None
    _check_row_count(table.num_rows, max_rows, "sample rows")

    missing = [name for name in SAMPLE_COLUMN_TYPES if name not in table.column_names]
    if missing:
        raise ApiError(400, "invalid_columns", f"missing sample columns: {', '.join(missing)}")
    columns = {}
    for name, arrow_type in SAMPLE_COLUMN_TYPES.items():
        column = table.column(name)
        compatible = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if name in NUMBER_COLUMNS:
            compatible = pa.types.is_floating(column.type) or pa.types.is_integer(column.type)
        if not compatible:
            raise ApiError(
                400, "invalid_columns", f"column {name!r} has Arrow type {column.type}, expected {arrow_type}"
            )
        columns[name] = column.cast(arrow_type)
    return validate_sample_table(pa.table(columns))


def validate_sample_table(table: pa.Table) -> pa.Table:
    """Reject nulls, over-long names and values or timestamps that are not finite numbers."""
    for name in table.column_names:
        nulls = table.column(name).null_count
        if nulls:
            raise ApiError(400, "invalid_columns", f"column {name!r} has {nulls} null values: send a value in every row")
    for name in TEXT_COLUMNS:
        if table.num_rows and pc.max(pc.utf8_length(table.column(name))).as_py() > MAX_TEXT_LENGTH:
            raise ApiError(400, "invalid_columns", f"column {name!r} has a value longer than {MAX_TEXT_LENGTH} characters")
    for name in NUMBER_COLUMNS:
        infinite = table.num_rows - pc.sum(pc.is_finite(table.column(name))).as_py() if table.num_rows else 0
        if infinite:
            raise ApiError(
                400, "invalid_columns", f"column {name!r} has {infinite} values that are NaN or infinite: send finite numbers"
            )
    return table


def results_from_json(document: dict[str, Any], max_rows: int) -> list[ResultRow]:
    """Read ``{"results": [{"metric", "pod", "timestamp", "data"}, ...]}``."""
    results = document.get("results")
    if not isinstance(results, list):
        raise ApiError(400, "invalid_columns", "body needs a 'results' array of {metric, pod, timestamp, data} objects")
    _check_row_count(len(results), max_rows, "results")
    rows = []
    for index, item in enumerate(results):
        where = f"results[{index}]"
        if not isinstance(item, dict):
            raise ApiError(400, "invalid_columns", f"{where} must be an object")
        metric, pod, timestamp, data = (item.get(name) for name in ("metric", "pod", "timestamp", "data"))
        for name, value in (("metric", metric), ("pod", pod)):
            if not isinstance(value, str) or not value or len(value) > MAX_TEXT_LENGTH:
                raise ApiError(400, "invalid_columns", f"{where}.{name} must be a non-empty string")
        if not _is_finite_number(timestamp):
            raise ApiError(400, "invalid_columns", f"{where}.timestamp must be Unix seconds, got {timestamp!r}")
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_columns", f"{where}.data must be a JSON object")
        rows.append(ResultRow(metric=metric, pod=pod, timestamp=float(timestamp), data=data))
    return rows


def run_from_json(document: dict[str, Any]) -> Run:
    """Read a run report: uid, namespace, name, status and optional spec, times and message."""
    values = {}
    for name in ("uid", "namespace", "name"):
        value = document.get(name)
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT_LENGTH:
            raise ApiError(400, "malformed_body", f"run field {name!r} must be a non-empty string, got {value!r}")
        values[name] = value

    status = document.get("status", "Running")
    if status not in RUN_STATUSES:
        raise ApiError(
            400, "malformed_body", f"invalid run status {status!r}: use one of {', '.join(RUN_STATUSES)}"
        )
    spec = document.get("spec") or {}
    if not isinstance(spec, dict):
        raise ApiError(400, "malformed_body", "run field 'spec' must be a JSON object")
    message = document.get("message")
    if message is not None and not isinstance(message, str):
        raise ApiError(400, "malformed_body", "run field 'message' must be a string")

    times = {}
    for name in ("startedAt", "endedAt"):
        value = document.get(name)
        if value is not None and not _is_finite_number(value):
            raise ApiError(400, "malformed_body", f"run field {name!r} must be Unix seconds, got {value!r}")
        times[name] = None if value is None else float(value)

    return Run(
        **values,
        status=status,
        spec=spec,
        message=message,
        started_at=times["startedAt"],
        ended_at=times["endedAt"],
    )


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
