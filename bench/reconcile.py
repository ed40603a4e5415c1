"""Reconcile throughput on the local control plane: metrics-operator against a plain-client ceiling and kopf.

Each measurement creates N MetricSets (quick: 200, full: 2,000) in a fresh namespace,
4 creates at a time, and times from the first create until N JobSets exist and every
MetricSet has a status phase. Three ways of doing the work, each with 4 workers:

- operator: ``metrics-operator controller --namespace NS --workers 4`` (informers,
  work queue, status patch, one Event per phase change, the namespace's sink objects);
- ceiling: this process makes the operator's writes with kubernetes-asyncio and no
  controller logic: each created MetricSet goes straight to a worker that creates
  its JobSet (the operator's own builder), patches status.phase to Pending and
  records one Event (bench/peer_writes.py);
- kopf: bench/kopf_peer.py under ``kopf run --standalone``, making the same writes.

The JobSet controller and KWOK act on the JobSets in all three, so the control plane
carries the same load in each. The operator's RSS is also read with RSS_COUNT
MetricSets cached (full: 10,000, quick: 1,000). Those name a PersistentVolumeClaim
that does not exist and have the sink off, so the operator caches them and patches
their status without creating JobSets. Every namespace is deleted after its
measurement, and full mode waits until it is gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPOSITORY, figure, parse_mode, python, ratio  # noqa: E402
from kubernetes_asyncio import client, config  # noqa: E402

from peer_writes import JOBSET_API, create_jobset, patch_pending, record_pending_event  # noqa: E402

from metrics_operator.api.metricset import GROUP, PLURAL, VERSION  # noqa: E402

WORKERS = 4
CREATORS = 4
POLL_SECONDS = 1.0
# Bounds on every wait, so a stuck control plane ends the benchmark instead of hanging it.
START_TIMEOUT_SECONDS = 120.0
NAMESPACE_DELETE_TIMEOUT_SECONDS = 300.0
CRD_FILE = REPOSITORY / "config" / "crd" / "metricsets.yaml"


def cluster_environment() -> dict[str, str]:
    """Start the local control plane if needed (cached build) and return the environment to reach it."""
    cluster = REPOSITORY / "hack" / "cluster"
    subprocess.run([str(cluster), "up"], check=True, stdout=subprocess.DEVNULL, timeout=600)
    # hack/cluster env prints shell export lines (KUBECONFIG, and PATH with kubectl), so a shell reads them.
    output = subprocess.run(
        ["bash", "-c", f'eval "$({cluster} env)" && env -0'], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    return dict(entry.split("=", 1) for entry in output.split("\0") if "=" in entry)


def kubectl(environment: dict[str, str], *arguments: str) -> None:
    subprocess.run(["kubectl", *arguments], check=True, capture_output=True, env=environment, timeout=120)


def metricset_body(name: str, *, waiting_for_storage: bool = False) -> dict[str, Any]:
    """Return a one-pod app-timing MetricSet, or with ``waiting_for_storage`` an io-stat one whose claim does not exist."""
    spec: dict[str, Any] = {
        "application": {"image": "example.invalid/app:1", "command": "sleep 5"},
        "metrics": [{"name": "app-timing"}],
    }
    if waiting_for_storage:
        spec = {"storage": {"volume": {"claimName": "absent-claim"}}, "metrics": [{"name": "io-stat"}], "sink": {"enabled": False}}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "MetricSet", "metadata": {"name": name}, "spec": spec}


def get_local(url: str) -> int:
    """Return the HTTP status of GET ``url`` on 127.0.0.1, or 0 when nothing responds."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Bench:
    """The API client and environment shared by all measurements."""

    def __init__(self, api_client: client.ApiClient, environment: dict[str, str], work_dir: Path, *, wait_for_deletion: bool):
        self.api = api_client
        self.wait_for_deletion = wait_for_deletion
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.environment = environment
        self.work_dir = work_dir

    async def new_namespace(self, purpose: str) -> str:
        name = f"bench-{purpose}-{uuid.uuid4().hex[:6]}"
        await self.core.create_namespace({"metadata": {"name": name}})
        return name

    async def delete_namespace(self, name: str) -> None:
        """Delete the namespace; in full mode wait (bounded) until it is gone, so the next measurement starts on a quiet control plane."""
        await self.core.delete_namespace(name)
        if not self.wait_for_deletion:
            return
        deadline = time.monotonic() + NAMESPACE_DELETE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                await self.core.read_namespace(name)
            except client.ApiException as error:
                if error.status == 404:
                    return
                raise
            await asyncio.sleep(2.0)
        print(f"warning: namespace {name} still exists {NAMESPACE_DELETE_TIMEOUT_SECONDS:g} s after its deletion", flush=True)

    async def create_metricsets(self, namespace: str, count: int, created: asyncio.Queue | None = None, **options: Any) -> None:
        """Create ``count`` MetricSets, CREATORS at a time; put each created object on ``created`` if given."""
        names = iter(f"ms-{index:05d}" for index in range(count))

        async def creator() -> None:
            for name in names:
                obj = await self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, metricset_body(name, **options)
                )
                if created is not None:
                    await created.put(obj)

        await asyncio.gather(*(creator() for _ in range(CREATORS)))

    async def progress(self, namespace: str, *, with_jobsets: bool = True) -> tuple[int, int]:
        """Return how many MetricSets have a status phase, and how many JobSets exist."""
        metricsets = await self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        with_phase = sum(1 for item in metricsets["items"] if (item.get("status") or {}).get("phase"))
        if not with_jobsets:
            return with_phase, 0
        jobsets = await self.custom.list_namespaced_custom_object(*JOBSET_API, namespace, "jobsets")
        return with_phase, len(jobsets["items"])

    async def wait_for_all(self, namespace: str, count: int, timeout: float, *, with_jobsets: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with_phase, jobsets = await self.progress(namespace, with_jobsets=with_jobsets)
            if with_phase >= count and (jobsets >= count or not with_jobsets):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"timed out after {timeout:g} s in {namespace}: {with_phase} of {count} MetricSets have a phase, {jobsets} JobSets exist"
                )
            await asyncio.sleep(POLL_SECONDS)


async def start_process(command: list[str], environment: dict[str, str], log_path: Path, ready: Callable[[], Awaitable[bool]]) -> subprocess.Popen:
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=environment, cwd=REPOSITORY)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not await ready():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"{command[0]} did not become ready; its log:\n{log_path.read_text()[-3000:]}")
        await asyncio.sleep(0.5)
    return process


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


async def start_operator(bench: Bench, namespace: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [
        str(Path(python()).parent / "metrics-operator"), "controller", "--namespace", namespace,
        "--workers", str(WORKERS), "--metrics-host", "127.0.0.1", "--metrics-port", str(port),
    ]
    ready = lambda: asyncio.to_thread(get_local, f"http://127.0.0.1:{port}/readyz")  # noqa: E731
    process = await start_process(command, bench.environment, bench.work_dir / f"operator-{namespace}.log", _is_ok(ready))
    return process, port


def _is_ok(status: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await status() == 200

    return check


def start_profiler(pid: int, name: str) -> subprocess.Popen | None:
    """Start ``py-spy record`` on ``pid`` when $BENCH_PROFILE_DIR is set; it writes NAME.raw (collapsed stacks) there."""
    directory = os.environ.get("BENCH_PROFILE_DIR")
    if not directory:
        return None
    output = Path(directory) / f"{name}.raw"
    command = [str(Path(python()).parent / "py-spy"), "record", "--pid", str(pid), "--format", "raw", "--rate", "100", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(profiler: subprocess.Popen | None) -> None:
    # py-spy writes its output when interrupted, as on Ctrl-C.
    if profiler is None:
        return
    profiler.send_signal(signal.SIGINT)
    try:
        profiler.wait(timeout=60)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait()


async def measure_operator(bench: Bench, count: int, timeout: float) -> tuple[float, float, float]:
    """Return the operator's seconds for ``count`` MetricSets, and its API writes and reconcile passes per MetricSet."""
    namespace = await bench.new_namespace("operator")
    process, port = await start_operator(bench, namespace)
    profiler = start_profiler(process.pid, "operator")
    try:
        started = time.perf_counter()
        await bench.create_metricsets(namespace, count)
        await bench.wait_for_all(namespace, count, timeout)
        elapsed = time.perf_counter() - started
        # Lease renewals are leader election's, not reconciling's.
        writes = await asyncio.to_thread(operator_counter, port, "metrics_operator_api_write_requests_total")
        passes = await asyncio.to_thread(operator_counter, port, "metrics_operator_reconcile_total")
    finally:
        stop_profiler(profiler)
        stop_process(process)
        await bench.delete_namespace(namespace)
    return elapsed, writes / count, passes / count


def operator_counter(port: int, name: str, *, excluded_label: str = 'kind="Lease"') -> float:
    """Sum the series of counter ``name`` on the operator's /metrics, leaving out those with ``excluded_label``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and excluded_label not in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def measure_ceiling(bench: Bench, count: int, timeout: float) -> float:
    """Return the seconds the plain client takes to make the same writes with WORKERS workers."""
    namespace = await bench.new_namespace("ceiling")
    created: asyncio.Queue = asyncio.Queue()
    failures: list[str] = []

    async def worker() -> None:
        while True:
            raw = await created.get()
            try:
                await create_jobset(bench.api, raw)
                await patch_pending(bench.api, raw["metadata"])
                await record_pending_event(bench.api, raw["metadata"], "bench-ceiling")
            except client.ApiException as error:
                failures.append(f"{namespace}/{raw['metadata']['name']}: {error.status} {error.body}"[:600])
            finally:
                created.task_done()

    workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    try:
        started = time.perf_counter()
        await bench.create_metricsets(namespace, count, created)
        await asyncio.wait_for(created.join(), timeout)
        if failures:
            raise RuntimeError(f"{len(failures)} of {count} ceiling writes failed, the first: {failures[0]}")
        await bench.wait_for_all(namespace, count, timeout)
        elapsed = time.perf_counter() - started
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await bench.delete_namespace(namespace)
    return elapsed


async def measure_kopf(bench: Bench, count: int, timeout: float) -> float:
    namespace = await bench.new_namespace("kopf")
    port = free_port()
    command = [
        str(Path(python()).parent / "kopf"), "run", "--standalone", "--namespace", namespace,
        "--liveness", f"http://127.0.0.1:{port}/healthz", str(REPOSITORY / "bench" / "kopf_peer.py"),
    ]
    environment = {**bench.environment, "BENCH_WORKERS": str(WORKERS)}
    ready = _is_ok(lambda: asyncio.to_thread(get_local, f"http://127.0.0.1:{port}/healthz"))
    process = await start_process(command, environment, bench.work_dir / f"kopf-{namespace}.log", ready)
    try:
        started = time.perf_counter()
        await bench.create_metricsets(namespace, count)
        await bench.wait_for_all(namespace, count, timeout)
        elapsed = time.perf_counter() - started
    finally:
        stop_process(process)
        await bench.delete_namespace(namespace)
    return elapsed


async def measure_rss(bench: Bench, count: int, timeout: float) -> tuple[int, int]:
    """Return the operator's RSS with no MetricSets and with ``count`` MetricSets cached, in bytes."""
    namespace = await bench.new_namespace("rss")
    process, _ = await start_operator(bench, namespace)
    try:
        idle = rss_bytes(process.pid)
        await bench.create_metricsets(namespace, count, waiting_for_storage=True)
        await bench.wait_for_all(namespace, count, timeout, with_jobsets=False)
        loaded = rss_bytes(process.pid)
    finally:
        stop_process(process)
        await bench.delete_namespace(namespace)
    return idle, loaded


async def run(count: int, rss_count: int, environment: dict[str, str], work_dir: Path, *, wait_for_deletion: bool) -> None:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=environment["KUBECONFIG"], client_configuration=configuration)
    configuration.connection_pool_maxsize = CREATORS + WORKERS + 2
    timeout = 60.0 + count * 0.5
    async with client.ApiClient(configuration) as api_client:
        bench = Bench(api_client, environment, work_dir, wait_for_deletion=wait_for_deletion)
        ceiling_seconds = await measure_ceiling(bench, count, timeout)
        print(f"ceiling: {ceiling_seconds:.1f} s", flush=True)
        operator_seconds, writes_per_metricset, passes_per_metricset = await measure_operator(bench, count, timeout)
        print(f"operator: {operator_seconds:.1f} s", flush=True)
        kopf_seconds = await measure_kopf(bench, count, timeout)
        print(f"kopf: {kopf_seconds:.1f} s", flush=True)
        idle_rss, loaded_rss = await measure_rss(bench, rss_count, 60.0 + rss_count * 0.5)

    figure("operator_metricsets_per_second", count / operator_seconds, "1/s")
    figure("ceiling_metricsets_per_second", count / ceiling_seconds, "1/s")
    figure("kopf_metricsets_per_second", count / kopf_seconds, "1/s")
    figure("operator_api_writes_per_metricset", writes_per_metricset, "writes")
    figure("operator_reconciles_per_metricset", passes_per_metricset, "passes")
    figure("operator_rss_idle_mib", idle_rss / 2**20, "MiB")
    figure(f"operator_rss_with_{rss_count}_metricsets_mib", loaded_rss / 2**20, "MiB")
    # Throughput ratios, so higher is better: 1.0 means as fast as the ceiling or as kopf.
    ratio("reconcile_operator_over_ceiling", ceiling_seconds / operator_seconds)
    ratio("reconcile_operator_over_kopf", kopf_seconds / operator_seconds)


def main() -> None:
    arguments = parse_mode(__doc__.splitlines()[0])
    count, rss_count = (200, 1_000) if arguments.quick else (2_000, 10_000)
    environment = cluster_environment()
    kubectl(environment, "apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))
    kubectl(environment, "wait", "--for=condition=Established", "crd/metricsets.metrics-operator.io", "--timeout=60s")
    print(f"reconcile: {count} MetricSets per measurement, {WORKERS} workers, RSS with {rss_count} MetricSets")

    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as directory:
        asyncio.run(run(count, rss_count, environment, Path(directory), wait_for_deletion=not arguments.quick))


if __name__ == "__main__":
    main()
