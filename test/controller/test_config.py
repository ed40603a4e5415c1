"""Operator configuration: YAML file, MO_OPERATOR_* overrides, and errors that name the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics_operator.controller.config import ConfigInvalid, OperatorConfig, load_config


def test_defaults_without_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MO_OPERATOR_IMAGE_TAG", raising=False)
    config = load_config(None)
    assert config == OperatorConfig()
    assert config.metric_image("metrics-operator/perf") == "localhost:5000/metrics-operator/perf:0.1.0"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("image_tag: from-file\nsink:\n  storage_size: 3Gi\n  port: 9000\n")
    monkeypatch.setenv("MO_OPERATOR_SINK__PORT", "9090")

    config = load_config(file)

    assert config.image_tag == "from-file"
    assert config.sink.storage_size == "3Gi"
    assert config.sink.port == 9090


def test_empty_registry_drops_prefix() -> None:
    assert OperatorConfig(image_registry="").metric_image("metrics-operator/io") == "metrics-operator/io:0.1.0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image_tagg: x\n", "image_tagg"),
        ("sink:\n  port: 0\n", "sink.port"),
        ("- a list\n", "must be a mapping"),
        ("image_tag: [unclosed\n", "cannot read operator configuration"),
    ],
    ids=["unknown-key", "port-out-of-range", "not-a-mapping", "bad-yaml"],
)
def test_invalid_config_names_problem(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "config.yaml"
    file.write_text(text)
    with pytest.raises(ConfigInvalid) as raised:
        load_config(file)
    assert message in str(raised.value)
    assert str(file) in str(raised.value)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="cannot read operator configuration"):
        load_config(tmp_path / "absent.yaml")
