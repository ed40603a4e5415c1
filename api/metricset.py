"""Pydantic models of the MetricSet custom resource (metrics-operator.io/v1alpha1).

These models are the single source of truth: local mode validates YAML with them,
the controller reads cluster objects with them, and the CRD in config/crd/ is
generated from them.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from metrics_operator.api.base import ApiModel
from metrics_operator.api.options import accepted_values
from metrics_operator.api.registry import Target, all_metrics

GROUP = "metrics-operator.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "MetricSet"
PLURAL = "metricsets"

# JobSet derives Job and pod names from the MetricSet name and appends indices and a
# random suffix. Pod names, and the labels that carry them, stop at 63 characters.
MAX_NAME_LENGTH = 40
MIN_RATE_SECONDS = 0.1
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _check_dns_label(value: str, what: str, max_length: int = 63) -> str:
    if len(value) > max_length or not DNS_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r} is invalid: use at most {max_length} lowercase letters, digits "
            "and '-', starting and ending with a letter or digit"
        )
    return value


class ObjectMeta(ApiModel):
    """The part of Kubernetes object metadata the operator reads; other fields are kept."""

    model_config = ApiModel.model_config | {"extra": "allow"}

    name: str = Field(description="Name of the MetricSet, unique in its namespace.")
    namespace: str = Field("default", description="Namespace of the MetricSet.")
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_is_dns_label(cls, value: str) -> str:
        return _check_dns_label(value, "name", MAX_NAME_LENGTH)

    @field_validator("namespace")
    @classmethod
    def _namespace_is_dns_label(cls, value: str) -> str:
        return _check_dns_label(value, "namespace")


class Volume(ApiModel):
    """A volume to mount: exactly one source (claimName, hostPath, configMapName or secretName)."""

    claim_name: str | None = Field(None, description="Name of an existing PersistentVolumeClaim.")
    host_path: str | None = Field(None, description="Folder on the node; in local mode, the folder measured.")
    config_map_name: str | None = Field(None, description="Name of a ConfigMap to mount read-only.")
    secret_name: str | None = Field(None, description="Name of a Secret to mount read-only.")
    path: str = Field("/data", description="Where the volume is mounted in the containers.")
    read_only: bool = Field(False, description="Mount the volume read-only.")

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path {value!r} is invalid: use an absolute path such as /data")
        return value

    @field_validator("host_path")
    @classmethod
    def _host_path_is_absolute(cls, value: str | None) -> str | None:
        # Kubernetes requires it, and a relative folder would depend on where local mode starts.
        if value is not None and not value.startswith("/"):
            raise ValueError(f"hostPath {value!r} is invalid: use an absolute path such as /var/tmp/scratch")
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Volume:
        sources = {
            "claimName": self.claim_name,
            "hostPath": self.host_path,
            "configMapName": self.config_map_name,
            "secretName": self.secret_name,
        }
        given = [name for name, value in sources.items() if value]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise PydanticCustomError(
                "volume_source",
                "a volume needs exactly one of claimName, hostPath, configMapName or secretName "
                "(found: {found})",
                {"found": found},
            )
        return self

    @property
    def source(self) -> tuple[str, str]:
        """The one source as (kind, name), e.g. ("claimName", "scratch")."""
        for kind in ("claim_name", "host_path", "config_map_name", "secret_name"):
            value = getattr(self, kind)
            if value:
                return type(self).model_fields[kind].alias or kind, value
        raise AssertionError("validated volume has no source")


class Resources(ApiModel):
    """Container resource requests and limits, as in a Kubernetes container spec."""

    requests: dict[str, str | int | float] = Field(default_factory=dict)
    limits: dict[str, str | int | float] = Field(default_factory=dict)


class Application(ApiModel):
    """The application to measure: a container image and the command it runs."""

    image: str = Field(min_length=1, description="Container image of the application.")
    command: str = Field(
        min_length=1,
        description="Command line of the application. Metric collectors find the process by it.",
    )
    entrypoint: str | None = Field(None, description="Entrypoint to run the command with, if not the image's own.")
    working_dir: str | None = Field(None, description="Working directory of the application.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables of the application.")
    resources: Resources = Field(default_factory=Resources, description="Resource requests and limits.")
    pull_secret: str | None = Field(None, description="Name of an image pull Secret.")
    volumes: dict[str, Volume] = Field(default_factory=dict, description="Extra volumes, by name.")

    @field_validator("volumes")
    @classmethod
    def _volume_names_are_dns_labels(cls, volumes: dict[str, Volume]) -> dict[str, Volume]:
        for name in volumes:
            _check_dns_label(name, "volume name")
        return volumes


class Storage(ApiModel):
    """A storage volume to measure, mounted at its path in the metric containers."""

    volume: Volume = Field(description="The volume to measure.")


class Metric(ApiModel):
    """One metric to collect: which one, how often, how many samples, and its options."""

    name: str = Field(description="Metric name from the catalog (metrics-operator metrics lists them).")
    # Linux accounts CPU time in 10 ms ticks (USER_HZ 100), so shorter intervals give noise, not detail.
    rate: float = Field(
        10, ge=MIN_RATE_SECONDS, le=86400, allow_inf_nan=False, description="Seconds between two samples (0.1 to 86400)."
    )
    completions: int = Field(
        0, ge=0, description="Samples to take before stopping; 0 samples until the application ends."
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Options of this metric; see its docs.")

    @model_validator(mode="after")
    def _options_fit_metric(self) -> Metric:
        metrics = all_metrics()
        definition = metrics.get(self.name)
        if definition is None:
            raise PydanticCustomError(
                "unknown_metric",
                "unknown metric '{name}'; known metrics: {known}",
                {"name": self.name, "known": ", ".join(sorted(metrics)), "subpath": "name"},
            )
        try:
            validated = definition.options.model_validate(self.options)
        except ValidationError as error:
            first = error.errors()[0]
            option_path = ".".join(str(part) for part in first["loc"])
            raise PydanticCustomError(
                "invalid_option",
                "{message}",
                {
                    "message": _option_message(self.name, definition.options, first),
                    "subpath": f"options.{option_path}" if option_path else "options",
                    "input": first.get("input"),
                },
            ) from None
        self.options = validated.model_dump(by_alias=True, mode="json")
        if definition.whole_second_rate and not float(self.rate).is_integer():
            raise PydanticCustomError(
                "whole_second_rate",
                "metric '{name}' samples in whole seconds: set rate to a whole number such as {suggested}",
                {"name": self.name, "suggested": max(1, round(self.rate)), "subpath": "rate", "input": self.rate},
            )
        return self

    def options_model(self) -> ApiModel:
        """Validate this metric's options with its own options model and return the typed model."""
        return all_metrics()[self.name].options.model_validate(self.options)


def _option_message(metric: str, options_model: type[ApiModel], error: dict) -> str:
    option = ".".join(str(part) for part in error["loc"]) or "options"
    if error["type"] == "extra_forbidden":
        known = ", ".join(field.alias or name for name, field in options_model.model_fields.items())
        return f"unknown option {option!r} for metric {metric!r}; known options: {known or 'none'}"
    accepted = accepted_values(options_model, str(error["loc"][0])) if error["loc"] else ""
    message = f"invalid option {option!r} for metric {metric!r}: {error['msg']}"
    return f"{message}; accepted: {accepted}" if accepted else message


class Sink(ApiModel):
    """The destination of results: the namespace's sink service, unless disabled."""

    enabled: bool = Field(True, description="Push results to the namespace's sink service.")


class MetricSetSpec(ApiModel):
    """The measurement a MetricSet asks for: its target, its metrics and how they run."""

    pods: int = Field(1, ge=1, le=10000, description="Number of pods to run.")
    deadline_seconds: int | None = Field(
        None, ge=1, description="Maximum run time in seconds; the run fails when it is exceeded."
    )
    service_name: str = Field("ms", description="Name of the headless Service that lets pods reach each other.")
    application: Application | None = Field(None, description="The application to measure.")
    storage: Storage | None = Field(None, description="The storage volume to measure.")
    metrics: list[Metric] = Field(min_length=1, description="The metrics to collect.")
    sink: Sink = Field(default_factory=Sink, description="Where results are stored.")

    @field_validator("service_name")
    @classmethod
    def _service_name_is_dns_label(cls, value: str) -> str:
        return _check_dns_label(value, "serviceName")

    @model_validator(mode="after")
    def _metrics_fit_target(self) -> MetricSetSpec:
        if self.application is not None and self.storage is not None:
            raise PydanticCustomError(
                "application_and_storage",
                "a MetricSet measures an application or a storage volume, not both: "
                "remove spec.application or spec.storage, or split it into two MetricSets",
            )
        seen: set[str] = set()
        metrics = all_metrics()
        for index, metric in enumerate(self.metrics):
            if metric.name in seen:
                raise PydanticCustomError(
                    "duplicate_metric",
                    "metric '{name}' is listed twice; list each metric once",
                    {"name": metric.name, "subpath": f"metrics[{index}].name"},
                )
            seen.add(metric.name)
            target = metrics[metric.name].target
            if target is Target.APPLICATION and self.application is None:
                raise PydanticCustomError(
                    "metric_needs_application",
                    "metric '{name}' measures an application, but spec.application is not set: "
                    "add spec.application or choose another metric",
                    {"name": metric.name, "subpath": f"metrics[{index}].name"},
                )
            if target is Target.STORAGE and self.storage is None:
                raise PydanticCustomError(
                    "metric_needs_storage",
                    "metric '{name}' measures storage, but spec.storage is not set: "
                    "add spec.storage.volume or choose another metric",
                    {"name": metric.name, "subpath": f"metrics[{index}].name"},
                )
        return self

    @property
    def target(self) -> Target:
        if self.application is not None:
            return Target.APPLICATION
        if self.storage is not None:
            return Target.STORAGE
        return Target.NONE


class Phase(str, enum.Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class Condition(ApiModel):
    """A standard Kubernetes status condition."""

    model_config = ApiModel.model_config | {"extra": "allow"}

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = None


class MetricSetStatus(ApiModel):
    """Observed state of a MetricSet, written by the controller."""

    model_config = ApiModel.model_config | {"extra": "allow"}

    phase: Phase | None = Field(None, description="Pending, Running, Succeeded or Failed.")
    conditions: list[Condition] = Field(default_factory=list, description="Latest observations.")
    job_set_name: str | None = Field(None, description="Name of the JobSet that runs the metrics.")
    start_time: str | None = Field(None, description="When the JobSet started.")
    completion_time: str | None = Field(None, description="When the JobSet finished.")
    observed_generation: int | None = Field(None, description="Generation of the spec this status describes.")


class MetricSet(ApiModel):
    """A request to measure an application, a storage volume or the network."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    api_version: Literal["metrics-operator.io/v1alpha1"] = Field(API_VERSION, alias="apiVersion")
    kind: Literal["MetricSet"] = KIND
    metadata: ObjectMeta
    spec: MetricSetSpec
    status: MetricSetStatus | None = None

    @property
    def key(self) -> str:
        """namespace/name, the identity used in logs and work queues."""
        return f"{self.metadata.namespace}/{self.metadata.name}"
