"""The generated catalog page and the metric images stay in step with the registry."""

from __future__ import annotations

import os
import re
import subprocess

from catalog_runs import REPOSITORY

from metrics_operator.api.registry import all_metrics
from metrics_operator.cli.catalog_markdown import COMMAND, catalog_markdown

DOCS = REPOSITORY / "docs" / "metrics.md"
IMAGE_PREFIX = "metrics-operator/"


def test_docs_page_is_current():
    expected = catalog_markdown(all_metrics())
    assert DOCS.read_text() == expected, f"docs/metrics.md is stale: run {COMMAND}"


def test_docs_list_every_field_with_unit():
    text = DOCS.read_text()
    for definition in all_metrics().values():
        section = text.split(f"\n## {definition.name}\n", 1)[1].split("\n## ", 1)[0]
        for name, spec in definition.fields.items():
            assert f"| `{name}` | {spec.unit} |" in section, f"{definition.name}: field {name} missing from docs"


def test_docs_list_every_option():
    text = DOCS.read_text()
    for definition in all_metrics().values():
        section = text.split(f"\n## {definition.name}\n", 1)[1].split("\n## ", 1)[0]
        for field in definition.options.model_fields.values():
            assert f"| `{field.alias}` |" in section, f"{definition.name}: option {field.alias} missing from docs"


def _dockerfiles() -> dict[str, str]:
    return {
        path.parent.name: path.read_text() for path in (REPOSITORY / "containers").glob("*/Dockerfile")
    }


def test_every_metric_image_has_dockerfile():
    dockerfiles = _dockerfiles()
    for definition in all_metrics().values():
        assert definition.image.startswith(IMAGE_PREFIX), definition.image
        name = definition.image.removeprefix(IMAGE_PREFIX)
        assert name in dockerfiles, f"{definition.name}: no containers/{name}/Dockerfile for {definition.image}"


def test_every_dockerfile_serves_a_metric():
    images = {definition.image.removeprefix(IMAGE_PREFIX) for definition in all_metrics().values()}
    for name in _dockerfiles():
        assert name in images, f"containers/{name}/Dockerfile builds an image no metric uses"


def test_dockerfiles_install_metric_tools():
    dockerfiles = _dockerfiles()
    for definition in all_metrics().values():
        text = dockerfiles[definition.image.removeprefix(IMAGE_PREFIX)]
        installed = " ".join(re.findall(r"apt-get install[^\n]*", text))
        for tool in definition.tools:
            assert re.search(rf"\b{re.escape(tool.package)}\b", installed), (
                f"{definition.image} does not install {tool.package} for {definition.name}"
            )


def test_dockerfiles_use_container_entrypoint():
    for name, text in _dockerfiles().items():
        assert "FROM python:3.11-slim" in text, name
        assert 'ENTRYPOINT ["python", "-m", "metrics_operator.containers"]' in text, name


def test_build_images_without_engine_fails():
    environment = {**os.environ, "ENGINE": "no-such-container-engine"}
    completed = subprocess.run(
        [str(REPOSITORY / "hack" / "build-images")], env=environment, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 1
    assert "no container engine is available" in completed.stderr
    assert "no-such-container-engine" in completed.stderr
