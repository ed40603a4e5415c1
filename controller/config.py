"""Operator configuration: a pydantic settings model read from a YAML file and MO_OPERATOR_* variables.

Environment variables win over the file, so a Deployment can override one value
without replacing the ConfigMap. Nested fields use "__", e.g.
MO_OPERATOR_SINK__STORAGE_SIZE=5Gi.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "MO_OPERATOR_"


class SinkSettings(BaseModel):
    """The per-namespace sink the operator deploys."""

    image: str = Field("localhost:5000/metrics-operator/sink:0.1.0", description="Container image of the sink.")
    storage_size: str = Field("1Gi", description="Size of the sink's PersistentVolumeClaim.")
    storage_class: str | None = Field(None, description="StorageClass of the PVC; unset uses the cluster default.")
    port: int = Field(8080, ge=1, le=65535, description="Port of the sink's Service and container.")
    cpu_request: str = Field("100m", description="CPU request of the sink container.")
    memory_request: str = Field("256Mi", description="Memory request of the sink container.")


class OperatorConfig(BaseSettings):
    """Settings of the operator; see config/manager/operator-config.yaml for the file form."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    # NOTE: the default registry is a local one (localhost:5000), so nothing pulls
    # from a public registry by accident. Set it to where the images are pushed.
    image_registry: str = Field("localhost:5000", description="Registry prefix of the metric images.")
    image_tag: str = Field("0.1.0", description="Tag of the metric images.")
    image_pull_policy: str = Field("IfNotPresent", description="Pull policy of metric and sink containers.")
    process_timeout_seconds: int = Field(120, ge=1, description="Seconds a metric container waits for the application.")
    sink: SinkSettings = Field(default_factory=SinkSettings)

    def metric_image(self, image: str) -> str:
        """Return the full image reference of a metric image name from the catalog."""
        prefix = f"{self.image_registry.rstrip('/')}/" if self.image_registry else ""
        return f"{prefix}{image}:{self.image_tag}"


class ConfigInvalid(ValueError):
    """Raised when the configuration file or variables are invalid."""


class _FileSource(PydanticBaseSettingsSource):
    """Reads the settings from a YAML file, below environment variables in priority."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]):
        super().__init__(settings_cls)
        self.data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.data


def load_config(path: Path | None = None) -> OperatorConfig:
    """Load the configuration from ``path`` (YAML, snake_case keys) and the environment."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigInvalid(f"cannot read operator configuration {path}: {error}") from None
        if not isinstance(data, dict):
            raise ConfigInvalid(f"operator configuration {path} must be a mapping, not {type(data).__name__}")

    class FileConfig(OperatorConfig):
        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
            return (init_settings, env_settings, _FileSource(settings_cls, data))

    try:
        return OperatorConfig.model_validate(FileConfig().model_dump())
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise ConfigInvalid(f"invalid operator configuration ({path or 'environment'}): {problems}") from None
