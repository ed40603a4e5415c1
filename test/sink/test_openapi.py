"""The OpenAPI document served by the sink matches the routes the sink really serves."""

from __future__ import annotations

import re

import aiohttp

from metrics_operator.sink.app import create_app
from metrics_operator.sink.state import SinkConfig

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def routes_of_app(tmp_path) -> set[tuple[str, str]]:
    app = create_app(SinkConfig(db_path=tmp_path / "unused.duckdb"))
    routes = set()
    for route in app.router.routes():
        # aiohttp adds HEAD beside every GET; the document lists GET only.
        if route.method == "HEAD":
            continue
        routes.add((route.method.lower(), route.resource.canonical))
    return routes


async def test_openapi_matches_routes(sink, tmp_path):
    async with aiohttp.ClientSession() as anonymous:
        response = await anonymous.get(sink.url + "/openapi.json")
        document = await response.json()
    documented = {
        (method, path) for path, operations in document["paths"].items() for method in operations if method in HTTP_METHODS
    }
    served = routes_of_app(tmp_path)

    assert response.status == 200
    assert document["openapi"].startswith("3.")
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented routes that the sink does not serve"


async def test_openapi_path_parameters_declared(sink):
    async with aiohttp.ClientSession() as anonymous:
        document = await (await anonymous.get(sink.url + "/openapi.json")).json()

    for path, operations in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, operation in operations.items():
            declared = {parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "path"}
            assert declared == names, f"{method.upper()} {path} declares path parameters {declared}, expected {names}"


async def test_openapi_references_resolve(sink):
    async with aiohttp.ClientSession() as anonymous:
        text = await (await anonymous.get(sink.url + "/openapi.json")).text()
        document = await (await anonymous.get(sink.url + "/openapi.json")).json()

    references = set(re.findall(r'"\$ref": "#/components/schemas/(\w+)"', text))
    assert references, "the document should reference its schemas"
    assert references <= set(document["components"]["schemas"])
