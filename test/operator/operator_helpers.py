"""Helpers for operator tests: controller subprocesses, polling, and MetricSet documents."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes_asyncio.client.exceptions import ApiException

from metrics_operator.api.metricset import GROUP, PLURAL, VERSION

REPO_DIR = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_DIR / "examples"
CLI = [sys.executable, "-m", "metrics_operator.cli"]
METRICSET_ARGS = (GROUP, VERSION)
T = TypeVar("T")

# KWOK stage annotations (see test/cluster/test_kwok_stages.py): keep a pod Running that long.
COMPLETE_DELAY = "pod-complete.stage.kwok.x-k8s.io/delay"
COMPLETE_JITTER = "pod-complete.stage.kwok.x-k8s.io/jitter-delay"
# KWOK stage label: make a running pod fail with exit code 1.
FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class OperatorProcess:
    """A `metrics-operator controller` subprocess and its /metrics port on 127.0.0.1."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @classmethod
    def start(
        cls, kubeconfig: Path, log_path: Path, namespace: str | None, extra: list[str], env: dict[str, str] | None = None
    ) -> OperatorProcess:
        port = free_port()
        command = [*CLI, "-vv", "controller", "--kubeconfig", str(kubeconfig), "--metrics-port", str(port), *extra]
        if namespace is not None:
            command += ["--namespace", namespace]
        log_file = log_path.open("ab")
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO_DIR, env={**os.environ, **(env or {})}
        )
        log_file.close()
        return cls(process, port, log_path)

    def _get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, ""

    async def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"operator exited with {self.process.returncode}; log:\n{self.log()}")
        status, _ = await asyncio.to_thread(self._get, "/readyz")
        return status == 200

    async def metric(self, name: str, **labels: str) -> float:
        """Return the sum of the samples of ``name`` whose labels include ``labels``."""
        status, text = await asyncio.to_thread(self._get, "/metrics")
        assert status == 200, f"/metrics returned {status}"
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            series, value = line.rsplit(" ", 1)
            if all(f'{key}="{wanted}"' in series for key, wanted in labels.items()):
                total += float(value)
        return total

    async def used_requests(self) -> set[tuple[str, str]]:
        """Return the (verb, resource) pairs this process has sent to the API so far."""
        status, text = await asyncio.to_thread(self._get, "/metrics")
        assert status == 200
        used = set()
        for line in text.splitlines():
            if line.startswith("metrics_operator_api_requests_total{") and float(line.rsplit(" ", 1)[1]) > 0:
                labels = dict(part.split("=", 1) for part in line[line.index("{") + 1 : line.index("}")].split(","))
                used.add((labels["verb"].strip('"'), labels["resource"].strip('"')))
        return used

    async def writes_except_leases(self) -> float:
        status, text = await asyncio.to_thread(self._get, "/metrics")
        assert status == 200
        total = 0.0
        for line in text.splitlines():
            if line.startswith("metrics_operator_api_write_requests_total{") and 'kind="Lease"' not in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """Send SIGTERM, wait for the exit, and return the exit code (SIGKILL after 30 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


async def wait_until(check: Callable[[], Awaitable[T]], *, timeout: float, what: str, interval: float = 0.3) -> T:
    """Await ``check`` until it returns a truthy value and return it; fail naming ``what`` after ``timeout`` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value: {value!r}")
        await asyncio.sleep(interval)


def example(name: str, index: int = 0) -> dict[str, Any]:
    """Return one MetricSet document of examples/NAME."""
    documents = [document for document in yaml.safe_load_all((EXAMPLES / name).read_text()) if document]
    return copy.deepcopy(documents[index])


def metricset(name: str, *, annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """Return a small application MetricSet (app-timing) named ``name``."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MetricSet",
        "metadata": {"name": name, "annotations": annotations or {}, "labels": labels or {}},
        "spec": {
            "application": {"image": "example.invalid/app:1", "command": "sleep 5"},
            "metrics": [{"name": "app-timing"}],
        },
    }
    body["spec"].update(spec)
    return body


async def create_metricset(custom, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return await custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


async def read_metricset(custom, namespace: str, name: str) -> dict[str, Any]:
    return await custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


async def read_or_none(read: Awaitable[Any]) -> Any:
    """Await a read and return its result, or None on 404."""
    try:
        return await read
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item["type"] == type_:
            return item
    return None


