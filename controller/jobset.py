"""Build the JobSet that runs one MetricSet: one replicated Job of ``spec.pods`` indexed pods.

Each pod runs the application container (when there is one) and one container per
metric. The application's command is wrapped in /bin/sh so that its exit status and
end time reach the collectors through a shared emptyDir (a sidecar cannot read
another process's exit status from /proc). Metric containers get the environment
described in ``metrics_operator.containers.common.environment``.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from metrics_operator.api.metricset import Application, Metric, MetricSet, Volume
from metrics_operator.api.registry import get_metric
from metrics_operator.containers.common import environment
from metrics_operator.containers.common.application import EXIT_STATUS_FILE
from metrics_operator.controller.config import OperatorConfig
from metrics_operator.controller.resources import (
    JOBSETS,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    METRICSET_LABEL,
    SERVICE_LABEL,
    metricset_owner,
)
from metrics_operator.controller.sink import SINK_TOKEN_KEY, SINK_TOKEN_SECRET, sink_url

REPLICATED_JOB = "metrics"
APP_CONTAINER = "app"
SHARED_VOLUME = "metrics-operator-shared"
STORAGE_VOLUME = "metrics-operator-storage"
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
METRIC_COMMAND = ["python", "-m", "metrics_operator.containers"]
# Annotations of the MetricSet that are not copied to its pods: kubectl's copy of
# the whole object, and the operator's own.
SKIPPED_ANNOTATION_PREFIXES = ("kubectl.kubernetes.io/", "metrics-operator.io/")


def leader_host(metricset: MetricSet) -> str:
    """Return the DNS name of pod 0 through the headless Service that JobSet creates."""
    return f"{metricset.metadata.name}-{REPLICATED_JOB}-0-0.{metricset.spec.service_name}"


def wrap_command(application: Application, shared_dir: str) -> str:
    """Return the shell script that runs the application and records how it ended.

    The script contains the user's command as written, so collectors that scan
    /proc for the command find the wrapper and the application below it. The
    status file is written under a temporary name and renamed, so a collector
    never reads half of it.
    """
    command = application.command
    if application.entrypoint:
        command = f"{application.entrypoint} {command}"
    target = shlex.quote(f"{shared_dir}/{EXIT_STATUS_FILE}")
    temporary = shlex.quote(f"{shared_dir}/.{EXIT_STATUS_FILE}.tmp")
    return (
        f"{command}\n"
        "status=$?\n"
        f"printf '{{\"exitCode\": %d, \"endTime\": %s}}\\n' \"$status\" \"$(date +%s)\" > {temporary}\n"
        f"mv {temporary} {target}\n"
        'exit "$status"\n'
    )


def volume_source(volume: Volume) -> dict[str, Any]:
    """Return the pod volume source for a MetricSet volume."""
    kind, name = volume.source
    if kind == "claimName":
        return {"persistentVolumeClaim": {"claimName": name, "readOnly": volume.read_only}}
    if kind == "hostPath":
        return {"hostPath": {"path": name, "type": "DirectoryOrCreate"}}
    if kind == "configMapName":
        return {"configMap": {"name": name}}
    return {"secret": {"secretName": name}}


def _field_env(name: str, field_path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def metric_env(metricset: MetricSet, metric: Metric, config: OperatorConfig) -> list[dict[str, Any]]:
    """Return the environment of one metric container, per the operator-container contract."""
    spec = metricset.spec
    env = [
        {"name": environment.METRIC, "value": json.dumps(metric.model_dump(by_alias=True, mode="json"), sort_keys=True)},
        {"name": environment.RUN_UID, "value": metricset.metadata.uid or ""},
        {"name": environment.NAMESPACE, "value": metricset.metadata.namespace},
        {"name": environment.METRICSET, "value": metricset.metadata.name},
        _field_env(environment.POD_NAME, "metadata.name"),
        _field_env(environment.POD_INDEX, f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"),
        {"name": environment.PODS, "value": str(spec.pods)},
        {"name": environment.SHARED_DIR, "value": environment.SHARED_DIR_DEFAULT},
        {"name": environment.LEADER_HOST, "value": leader_host(metricset)},
        {"name": environment.PROCESS_TIMEOUT, "value": str(config.process_timeout_seconds)},
        {"name": environment.POD_METRICS, "value": ",".join(entry.name for entry in spec.metrics)},
    ]
    if spec.application is not None:
        env.append({"name": environment.APP_COMMAND, "value": spec.application.command})
    if spec.storage is not None:
        env.append({"name": environment.STORAGE_PATH, "value": spec.storage.volume.path})
    if spec.sink.enabled:
        env.append({"name": environment.SINK_URL, "value": sink_url(metricset.metadata.namespace, config)})
        token = {"secretKeyRef": {"name": SINK_TOKEN_SECRET, "key": SINK_TOKEN_KEY}}
        env.append({"name": environment.SINK_TOKEN, "valueFrom": token})
    return env


def metric_container(metricset: MetricSet, metric: Metric, config: OperatorConfig) -> dict[str, Any]:
    """Return the container that runs one metric's collector."""
    definition = get_metric(metric.name)
    mounts = [{"name": SHARED_VOLUME, "mountPath": environment.SHARED_DIR_DEFAULT}]
    storage = metricset.spec.storage
    if storage is not None:
        mounts.append({"name": STORAGE_VOLUME, "mountPath": storage.volume.path, "readOnly": storage.volume.read_only})
    container: dict[str, Any] = {
        "name": metric.name,
        "image": config.metric_image(definition.image),
        "imagePullPolicy": config.image_pull_policy,
        "command": METRIC_COMMAND,
        "env": metric_env(metricset, metric, config),
        "volumeMounts": mounts,
    }
    # Only collectors that read other containers' /proc/PID/io need ptrace access.
    if definition.needs_ptrace:
        container["securityContext"] = {"capabilities": {"add": ["SYS_PTRACE"]}}
    return container


def application_container(application: Application) -> dict[str, Any]:
    """Return the user's application container, changed only by the exit-status wrapper."""
    mounts = [{"name": SHARED_VOLUME, "mountPath": environment.SHARED_DIR_DEFAULT}]
    for name, volume in application.volumes.items():
        mounts.append({"name": name, "mountPath": volume.path, "readOnly": volume.read_only})
    container: dict[str, Any] = {
        "name": APP_CONTAINER,
        "image": application.image,
        "command": ["/bin/sh", "-c", wrap_command(application, environment.SHARED_DIR_DEFAULT)],
        "env": [{"name": name, "value": value} for name, value in sorted(application.env.items())],
        "volumeMounts": mounts,
    }
    if application.working_dir:
        container["workingDir"] = application.working_dir
    resources = application.resources.model_dump(by_alias=True, mode="json")
    resources = {key: value for key, value in resources.items() if value}
    if resources:
        container["resources"] = resources
    return container


def pod_volumes(metricset: MetricSet) -> list[dict[str, Any]]:
    volumes = [{"name": SHARED_VOLUME, "emptyDir": {}}]
    spec = metricset.spec
    if spec.storage is not None:
        volumes.append({"name": STORAGE_VOLUME, **volume_source(spec.storage.volume)})
    if spec.application is not None:
        for name, volume in spec.application.volumes.items():
            volumes.append({"name": name, **volume_source(volume)})
    return volumes


def _pod_metadata(metricset: MetricSet, labels: dict[str, str]) -> dict[str, Any]:
    """Copy the MetricSet's labels and annotations to its pods, so node selectors, policies and test tools see them."""
    annotations = {
        key: value
        for key, value in metricset.metadata.annotations.items()
        if not key.startswith(SKIPPED_ANNOTATION_PREFIXES)
    }
    return {"labels": {**metricset.metadata.labels, **labels}, "annotations": annotations}


def build_jobset(metricset: MetricSet, raw_metricset: dict[str, Any], config: OperatorConfig) -> dict[str, Any]:
    """Return the JobSet for a validated MetricSet; ``raw_metricset`` gives its ownerReference."""
    spec = metricset.spec
    labels = {MANAGED_BY_LABEL: MANAGED_BY, METRICSET_LABEL: metricset.metadata.name}

    containers = [metric_container(metricset, metric, config) for metric in spec.metrics]
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": containers, "volumes": pod_volumes(metricset)}
    if spec.application is not None:
        pod_spec["containers"] = [application_container(spec.application), *containers]
        # Collectors find the application in /proc, which needs one PID namespace per pod.
        pod_spec["shareProcessNamespace"] = True
        if spec.application.pull_secret:
            pod_spec["imagePullSecrets"] = [{"name": spec.application.pull_secret}]

    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": spec.pods,
        "parallelism": spec.pods,
        "backoffLimit": 0,
        "template": {"metadata": _pod_metadata(metricset, {**labels, SERVICE_LABEL: spec.service_name}), "spec": pod_spec},
    }
    if spec.deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.deadline_seconds

    # The headless Service itself comes from ensure_headless_service, before the JobSet.
    return {
        "apiVersion": JOBSETS.api_version,
        "kind": JOBSETS.kind,
        "metadata": {
            "name": metricset.metadata.name,
            "namespace": metricset.metadata.namespace,
            "labels": labels,
            "ownerReferences": [metricset_owner(raw_metricset)],
        },
        "spec": {
            "network": {"enableDNSHostnames": True, "subdomain": spec.service_name},
            "replicatedJobs": [
                {"name": REPLICATED_JOB, "replicas": 1, "template": {"metadata": {"labels": labels}, "spec": job_spec}}
            ],
        },
    }
