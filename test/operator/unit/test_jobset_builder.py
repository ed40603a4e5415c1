"""build_jobset and the status functions: the JobSet, containers and env a MetricSet turns into."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from metrics_operator.api.loader import load_metricsets
from metrics_operator.api.metricset import MetricSet, Phase
from metrics_operator.containers.common import environment
from metrics_operator.containers.common.application import read_exit_status
from metrics_operator.containers.entrypoint import read_settings
from metrics_operator.controller import status
from metrics_operator.controller.config import OperatorConfig
from metrics_operator.controller.jobset import APP_CONTAINER, build_jobset, wrap_command

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
UID = "0b6f3a52-7d0e-4e53-9a57-8c3e2f0f1a11"


def load(name: str) -> tuple[MetricSet, dict]:
    metricset = load_metricsets(EXAMPLES / name)[0]
    raw = metricset.model_dump(by_alias=True, mode="json")
    raw["metadata"].update({"uid": UID, "namespace": "bench"})
    return MetricSet.model_validate(raw), raw


def pod_spec(jobset: dict) -> dict:
    return jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]


def env_of(container: dict) -> dict:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def test_application_jobset_shape() -> None:
    metricset, raw = load("cpu-memory.yaml")
    jobset = build_jobset(metricset, raw, OperatorConfig())

    owner = jobset["metadata"]["ownerReferences"][0]
    assert owner["uid"] == UID
    assert owner["controller"] is True
    replicated = jobset["spec"]["replicatedJobs"]
    assert len(replicated) == 1
    assert replicated[0]["replicas"] == 1
    job = replicated[0]["template"]["spec"]
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] == metricset.spec.pods
    assert job["backoffLimit"] == 0
    assert jobset["spec"]["network"]["subdomain"] == metricset.spec.service_name

    pod = pod_spec(jobset)
    assert pod["restartPolicy"] == "Never"
    assert pod["shareProcessNamespace"] is True
    names = [container["name"] for container in pod["containers"]]
    assert names == [APP_CONTAINER] + [metric.name for metric in metricset.spec.metrics]


def test_only_ptrace_metrics_get_sys_ptrace() -> None:
    metricset, raw = load("cpu-memory.yaml")
    containers = {container["name"]: container for container in pod_spec(build_jobset(metricset, raw, OperatorConfig()))["containers"]}
    assert containers["perf-proc"]["securityContext"]["capabilities"]["add"] == ["SYS_PTRACE"]
    assert "securityContext" not in containers["app-timing"]
    assert "securityContext" not in containers[APP_CONTAINER]


def test_metric_env_follows_contract() -> None:
    metricset, raw = load("cpu-memory.yaml")
    config = OperatorConfig(image_registry="registry.local:5000", image_tag="1.2.3")
    container = pod_spec(build_jobset(metricset, raw, config))["containers"][1]
    env = env_of(container)

    assert container["image"] == "registry.local:5000/metrics-operator/perf:1.2.3"
    assert container["command"] == ["python", "-m", "metrics_operator.containers"]
    assert json.loads(env[environment.METRIC])["name"] == metricset.spec.metrics[0].name
    assert env[environment.RUN_UID] == UID
    assert env[environment.POD_METRICS] == ",".join(metric.name for metric in metricset.spec.metrics)
    assert env[environment.APP_COMMAND] == metricset.spec.application.command
    assert env[environment.POD_INDEX] == {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}
    assert env[environment.LEADER_HOST] == f"{metricset.metadata.name}-metrics-0-0.{metricset.spec.service_name}"
    assert env[environment.SINK_URL] == "http://metrics-sink.bench.svc:8080"
    assert env[environment.SINK_TOKEN] == {"secretKeyRef": {"name": "metrics-sink-token", "key": "token"}}
    assert environment.STORAGE_PATH not in env


def test_storage_jobset_mounts_volume_without_app() -> None:
    metricset, raw = load("storage-fio.yaml")
    pod = pod_spec(build_jobset(metricset, raw, OperatorConfig()))
    assert "shareProcessNamespace" not in pod
    mount_paths = [mount["mountPath"] for mount in pod["containers"][0]["volumeMounts"]]
    assert metricset.spec.storage.volume.path in mount_paths
    assert env_of(pod["containers"][0])[environment.STORAGE_PATH] == metricset.spec.storage.volume.path


def test_sink_disabled_leaves_sink_env_out() -> None:
    metricset, raw = load("storage-fio.yaml")
    metricset.spec.sink.enabled = False
    env = env_of(pod_spec(build_jobset(metricset, raw, OperatorConfig()))["containers"][0])
    assert environment.SINK_URL not in env
    assert environment.SINK_TOKEN not in env


@pytest.mark.parametrize("exit_code", [0, 3], ids=["success", "failure"])
def test_wrapper_records_exit_status(tmp_path: Path, exit_code: int) -> None:
    metricset, _ = load("cpu-memory.yaml")
    application = metricset.spec.application.model_copy(update={"command": f"sh -c 'exit {exit_code}'"})
    script = wrap_command(application, str(tmp_path))

    completed = subprocess.run(["/bin/sh", "-c", script], timeout=30)

    assert completed.returncode == exit_code
    recorded = read_exit_status(tmp_path)
    assert recorded is not None
    assert recorded.exit_code == exit_code
    assert application.command in script
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("jobset_status", "phase"),
    [
        ({}, Phase.PENDING),
        ({"replicatedJobsStatus": [{"name": "metrics", "active": 1, "ready": 0}]}, Phase.PENDING),
        ({"replicatedJobsStatus": [{"name": "metrics", "active": 1, "ready": 1}]}, Phase.RUNNING),
        ({"conditions": [{"type": "Completed", "status": "True", "lastTransitionTime": "2026-12-04T10:00:00Z"}]}, Phase.SUCCEEDED),
        ({"conditions": [{"type": "Failed", "status": "True", "reason": "FailedJobs", "message": "job failed"}]}, Phase.FAILED),
    ],
    ids=["new", "pods-starting", "running", "completed", "failed"],
)
def test_jobset_phase_table(jobset_status: dict, phase: Phase) -> None:
    assert status.jobset_phase({"status": jobset_status})[0] is phase


def test_unchanged_status_needs_no_patch() -> None:
    jobset = {"metadata": {"name": "a", "creationTimestamp": "2026-12-04T10:00:00Z"}, "status": {}}
    phase, conditions, completion = status.jobset_phase(jobset)
    first = status.build_status({}, phase=phase, conditions=conditions, generation=1, jobset=jobset, completion_time=completion)
    stored = {key: value for key, value in first.items() if value is not None}

    phase, conditions, completion = status.jobset_phase(jobset)
    second = status.build_status(stored, phase=phase, conditions=conditions, generation=1, jobset=jobset, completion_time=completion)

    assert not status.status_changed(stored, second)
    assert second["conditions"][0]["lastTransitionTime"] == first["conditions"][0]["lastTransitionTime"]


@pytest.mark.parametrize("file", ["cpu-memory.yaml", "storage-fio.yaml", "network-iperf3.yaml"])
def test_metric_env_accepted_by_entrypoint(file: str) -> None:
    metricset, raw = load(file)
    pod = pod_spec(build_jobset(metricset, raw, OperatorConfig()))
    metric_containers = [container for container in pod["containers"] if container["name"] != APP_CONTAINER]
    for container in metric_containers:
        names = [item["name"] for item in container["env"]]
        assert len(names) == len(set(names)), f"duplicate env names in {container['name']}: {sorted(names)}"
        environ = {item["name"]: item["value"] for item in container["env"] if "value" in item}
        # The kubelet fills these from the downward API and the Secret.
        environ.update({environment.POD_INDEX: "0", environment.POD_NAME: "pod-0", environment.SINK_TOKEN: "token"})

        settings = read_settings(environ)

        assert settings.metric.name == container["name"]
        assert settings.run.uid == UID
        assert settings.sink_url == "http://metrics-sink.bench.svc:8080"
