"""The OpenAPI 3 document of the sink's HTTP API, served at /openapi.json.

Written by hand next to the routes; test/sink/test_openapi.py checks that every route
is documented and every documented route exists.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from metrics_operator.sink.payloads import ARROW_STREAM_TYPE, IDEMPOTENCY_HEADER

OPENAPI_VERSION = "3.0.3"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema_name: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or {"type": "string"}}


UID = {"name": "uid", "in": "path", "required": True, "description": "The run's uid (the MetricSet's uid).", "schema": {"type": "string"}}
IDEMPOTENCY = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "Key of this batch, reused when it is retried; required here or as the idempotencyKey body field.",
    "schema": {"type": "string", "maxLength": 128},
}
TIME = {"oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]}
UNAUTHORIZED = _error("Missing or invalid bearer token.")
BATCH_ERRORS = {
    "400": _error("Malformed body, invalid columns, too many rows or a missing idempotency key."),
    "401": UNAUTHORIZED,
    "404": _error("The run is not registered."),
    "413": _error("The body exceeds the size limit."),
    "415": _error("Unsupported Content-Type."),
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "reason"],
        "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
        "additionalProperties": True,
    },
    "RunReport": {
        "type": "object",
        "required": ["uid", "namespace", "name"],
        "properties": {
            "uid": {"type": "string"},
            "namespace": {"type": "string"},
            "name": {"type": "string"},
            "status": {"type": "string", "enum": ["Pending", "Running", "Succeeded", "Failed"], "default": "Running"},
            "spec": {"type": "object"},
            "message": {"type": "string", "nullable": True},
            "startedAt": {"type": "number", "nullable": True, "description": "Unix seconds."},
            "endedAt": {"type": "number", "nullable": True, "description": "Unix seconds."},
        },
    },
    "Run": {
        "type": "object",
        "properties": {
            "uid": {"type": "string"},
            "namespace": {"type": "string"},
            "name": {"type": "string"},
            "status": {"type": "string"},
            "message": {"type": "string", "nullable": True},
            "startedAt": {"type": "number", "nullable": True},
            "endedAt": {"type": "number", "nullable": True},
            "updatedAt": {"type": "number", "nullable": True},
            "spec": {"type": "object"},
            "sampleCount": {"type": "integer"},
        },
    },
    "RunList": {"type": "object", "properties": {"runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}}}},
    "SampleColumns": {
        "type": "object",
        "required": ["metric", "pod", "series", "field", "timestamp", "value"],
        "properties": {
            "idempotencyKey": {"type": "string"},
            "metric": {"type": "array", "items": {"type": "string"}},
            "pod": {"type": "array", "items": {"type": "string"}},
            "series": {"type": "array", "items": {"type": "string"}},
            "field": {"type": "array", "items": {"type": "string"}},
            "timestamp": {"type": "array", "items": {"type": "number"}, "description": "Unix seconds."},
            "value": {"type": "array", "items": {"type": "number"}},
        },
    },
    "ResultBatch": {
        "type": "object",
        "required": ["results"],
        "properties": {
            "idempotencyKey": {"type": "string"},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["metric", "pod", "timestamp", "data"],
                    "properties": {
                        "metric": {"type": "string"},
                        "pod": {"type": "string"},
                        "timestamp": {"type": "number"},
                        "data": {"type": "object"},
                    },
                },
            },
        },
    },
    "BatchStored": {
        "type": "object",
        "properties": {
            "run": {"type": "string"},
            "idempotencyKey": {"type": "string"},
            "rows": {"type": "integer"},
            "duplicate": {"type": "boolean", "description": "True when the key was already stored; nothing was stored again."},
        },
    },
    "Summary": {
        "type": "object",
        "properties": {
            "run": {"type": "string"},
            "status": {"type": "string"},
            "summary": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        name: {"type": "number"} for name in ("count", "min", "mean", "max", "p50", "p95", "p99")
                    }
                    | {"metric": {"type": "string"}, "series": {"type": "string"}, "field": {"type": "string"}},
                },
            },
        },
    },
    "Results": {"type": "object", "properties": {"run": {"type": "string"}, "results": {"type": "array", "items": {"type": "object"}}}},
}

PATHS: dict[str, Any] = {
    "/v1/runs": {
        "get": {
            "summary": "List runs, newest first.",
            "parameters": [
                _query("name", "MetricSet name."),
                _query("namespace", "Namespace."),
                _query("status", "Pending, Running, Succeeded or Failed."),
                _query("since", "Runs started at or after this time.", TIME),
                _query("until", "Runs started before this time.", TIME),
                _query("limit", "Maximum runs returned (1 to 10000, default 1000).", {"type": "integer"}),
            ],
            "responses": {"200": _json("RunList"), "400": _error("Invalid filter value."), "401": UNAUTHORIZED},
        },
        "post": {
            "summary": "Register a run or merge a report of it.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunReport"}}}},
            "responses": {
                "200": _json("Run", "The run as stored after merging."),
                "400": _error("Malformed report."),
                "401": UNAUTHORIZED,
                "409": _error("The uid belongs to another MetricSet."),
                "413": _error("The body exceeds the size limit."),
                "415": _error("Unsupported Content-Type."),
            },
        },
    },
    "/v1/runs/{uid}": {
        "get": {
            "summary": "Get one run.",
            "parameters": [UID],
            "responses": {"200": _json("Run"), "401": UNAUTHORIZED, "404": _error("Run not found.")},
        }
    },
    "/v1/runs/{uid}/summary": {
        "get": {
            "summary": "Summary statistics per metric and field.",
            "parameters": [UID],
            "responses": {"200": _json("Summary"), "401": UNAUTHORIZED, "404": _error("Run not found.")},
        }
    },
    "/v1/runs/{uid}/samples": {
        "get": {
            "summary": "Samples of a run as JSON columns, CSV or Parquet.",
            "parameters": [
                UID,
                _query("metric", "Metric name."),
                _query("field", "Field name."),
                _query("since", "Samples taken at or after this time.", TIME),
                _query("until", "Samples taken before this time.", TIME),
                _query("format", "json, csv or parquet; overrides Accept.", {"type": "string", "enum": ["json", "csv", "parquet"]}),
            ],
            "responses": {
                "200": {
                    "description": "The samples.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/SampleColumns"}},
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "400": _error("Invalid filter value."),
                "401": UNAUTHORIZED,
                "404": _error("Run not found."),
                "406": _error("No supported format in Accept."),
            },
        },
        "post": {
            "summary": "Store a batch of samples once per idempotency key.",
            "parameters": [UID, IDEMPOTENCY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/SampleColumns"}},
                    ARROW_STREAM_TYPE: {"schema": {"type": "string", "format": "binary"}},
                },
            },
            "responses": {"200": _json("BatchStored", "Committed (or already stored)."), **BATCH_ERRORS},
        },
    },
    "/v1/runs/{uid}/results": {
        "get": {
            "summary": "Result documents of a run.",
            "parameters": [UID, _query("metric", "Metric name.")],
            "responses": {"200": _json("Results"), "401": UNAUTHORIZED, "404": _error("Run not found.")},
        },
        "post": {
            "summary": "Store a batch of result documents once per idempotency key.",
            "parameters": [UID, IDEMPOTENCY],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ResultBatch"}}}},
            "responses": {"200": _json("BatchStored", "Committed (or already stored)."), **BATCH_ERRORS},
        },
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics: run summaries and the sink's health.",
            "security": [],
            "responses": {"200": {"description": "Prometheus text format.", "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }
    },
    "/healthz": {"get": {"summary": "Liveness.", "security": [], "responses": {"200": {"description": "The process serves requests."}}}},
    "/readyz": {
        "get": {
            "summary": "Readiness: the database answers a query.",
            "security": [],
            "responses": {"200": {"description": "Ready."}, "503": _error("The database cannot be read.")},
        }
    },
    "/openapi.json": {"get": {"summary": "This document.", "security": [], "responses": {"200": {"description": "OpenAPI 3 document."}}}},
}


def document() -> dict[str, Any]:
    """Build the OpenAPI document."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "metrics-operator sink",
            "version": "v1",
            "description": "Stores runs, samples and results pushed by metric containers in DuckDB.",
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(document())
