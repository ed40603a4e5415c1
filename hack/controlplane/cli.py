"""The hack/cluster commands: up, down, status, env and build."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import components, processes
from .build import build_all
from .layout import (
    NODE_COUNT_ENV,
    Versions,
    bin_dir,
    kubeconfig_path,
    load_state,
    run_dir,
    save_state,
    state_path,
)
from .pki import CertificateAuthority, write_service_account_keys

log = logging.getLogger("cluster")

# Start-up limits per component; the apiserver's first start installs its
# built-in objects and takes the longest.
START_TIMEOUT = 90.0


class Startup:
    """Records each started component in state.json as soon as it runs, so `down` can stop it."""

    def __init__(self, run: Path, state: dict) -> None:
        self.run = run
        self.state = state
        self.timings: dict[str, float] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        process = processes.start(name, argv, self.run / "logs")
        self.state["components"].append({"name": name, "pid": process.pid, "executable": argv[0]})
        save_state(self.run, self.state)
        return process

    def wait(self, name: str, process: subprocess.Popen, ready, started: float) -> None:
        processes.wait_until(name, ready, process, self.run / "logs" / f"{name}.log", START_TIMEOUT)
        self.timings[name] = time.monotonic() - started
        log.info("start %s: ready in %.1f s", name, self.timings[name])


def kubectl(bin_path: Path, kubeconfig: Path, *arguments: str, stdin: str | None = None, check: bool = True) -> str:
    """Run the cached kubectl; with CHECK false a failure returns an empty output instead of exiting."""
    command = [str(bin_path / "kubectl"), f"--kubeconfig={kubeconfig}", *arguments]
    result = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        if not check:
            return ""
        raise SystemExit(f"failed: {shlex.join(command)}\n{result.stderr.strip()}")
    return result.stdout


def condition_statuses(bin_path: Path, kubeconfig: Path, condition: str, *selection: str) -> list[str]:
    """Return the status of CONDITION for each selected object, read with kubectl's JSONPath."""
    jsonpath = f"{{.status.conditions[?(@.type=='{condition}')].status}}"
    if len(selection) != 1 or "/" not in selection[0]:
        jsonpath = f"{{range .items[*]}}{jsonpath}{{'\\n'}}{{end}}"
    return kubectl(bin_path, kubeconfig, "get", *selection, "-o", f"jsonpath={jsonpath}", check=False).split()


def apply_documents(bin_path: Path, kubeconfig: Path, documents: list[dict]) -> None:
    kubectl(
        bin_path, kubeconfig, "apply", "--server-side", "--force-conflicts", "--field-manager=hack-cluster", "-f", "-",
        stdin=yaml.safe_dump_all(documents),
    )


def node_count() -> int:
    value = os.environ.get(NODE_COUNT_ENV, "1")
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{NODE_COUNT_ENV}={value!r} is invalid; set a whole number of fake nodes, at least 1")
    return int(value)


def is_running(run: Path) -> bool:
    state = load_state(run)
    if state is None or not state.get("ready"):
        return False
    return all(processes.is_alive(c["pid"], c["executable"]) for c in state["components"])


def stop_components(run: Path) -> None:
    state = load_state(run)
    if state is None:
        return
    # Reverse start order: the apiserver outlives its clients and etcd outlives the apiserver.
    for component in reversed(state["components"]):
        processes.stop(component["name"], component["pid"], component["executable"])
    state_path(run).unlink()


def prepare_run_dir(run: Path) -> None:
    """Empty the run folder, keeping the previous logs under logs.previous for diagnosis."""
    if (run / "logs").is_dir():
        shutil.rmtree(run / "logs.previous", ignore_errors=True)
        (run / "logs").rename(run / "logs.previous")
    for name in ("etcd", "pki", "jobset-config.yaml", "kubeconfig"):
        path = run / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for name in ("logs", "pki/jobset-webhook", "etcd"):
        (run / name).mkdir(parents=True, exist_ok=True)
    (run / "etcd").chmod(0o700)


def make_files(run: Path, apiserver_port: int) -> components.Files:
    pki = run / "pki"
    ca = CertificateAuthority(pki, "metrics-operator-test-ca")
    apiserver = ca.issue(
        "apiserver",
        "kube-apiserver",
        ip_addresses=(processes.LOOPBACK, "10.0.0.1"),
        dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        server=True,
    )
    files = components.Files(
        run=run,
        ca=ca.pair,
        apiserver=apiserver,
        admin=ca.issue("admin", "admin", organizations=("system:masters",), client=True),
        service_account=write_service_account_keys(pki),
        jobset_webhook_dir=pki / "jobset-webhook",
        kubeconfig=kubeconfig_path(run),
    )
    ca.issue("jobset-webhook/tls", "jobset-webhook", ip_addresses=(processes.LOOPBACK,), server=True)
    components.write_kubeconfig(
        files.kubeconfig, f"https://{processes.LOOPBACK}:{apiserver_port}", files.ca.cert, files.admin
    )
    return files


def apiserver_context(files: components.Files) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.ca.cert))
    context.load_cert_chain(str(files.admin.cert), str(files.admin.key))
    return context


def up(versions: Versions) -> None:
    run = run_dir()
    if is_running(run):
        log.info("up: already running, state in %s", state_path(run))
        return
    if load_state(run) is not None:
        log.info("up: stopping the leftovers of an earlier run in %s", run)
        stop_components(run)

    total_started = time.monotonic()
    nodes = node_count()
    binaries = bin_dir(versions)
    build_durations = build_all(versions, binaries)

    run.mkdir(parents=True, exist_ok=True)
    prepare_run_dir(run)
    ports = components.Ports(*(processes.free_port() for _ in range(8)))
    files = make_files(run, ports.apiserver)
    state = {"versions": versions.__dict__, "bin_dir": str(binaries), "kubeconfig": str(files.kubeconfig),
             "ports": ports.__dict__, "components": [], "ready": False}
    save_state(run, state)
    startup = Startup(run, state)
    try:
        start_all(startup, binaries, files, ports, nodes)
    except BaseException:
        log.error("up: failed, stopping the components started so far; logs are in %s", run / "logs")
        stop_components(run)
        raise

    state["ready"] = True
    save_state(run, state)
    for name, seconds in build_durations.items():
        log.info("timing: build %s %.1f s", name, seconds)
    for name, seconds in startup.timings.items():
        log.info("timing: start %s %.1f s", name, seconds)
    log.info("up: control plane ready in %.1f s; kubeconfig %s", time.monotonic() - total_started, files.kubeconfig)


def start_all(startup: Startup, binaries: Path, files: components.Files, ports: components.Ports, nodes: int) -> None:
    context = apiserver_context(files)
    apiserver_url = f"https://{processes.LOOPBACK}:{ports.apiserver}"

    started = time.monotonic()
    etcd = startup.start("etcd", components.etcd_command(binaries, files, ports))
    startup.wait("etcd", etcd, lambda: processes.http_ok(f"http://{processes.LOOPBACK}:{ports.etcd_client}/health"), started)

    started = time.monotonic()
    apiserver = startup.start("kube-apiserver", components.apiserver_command(binaries, files, ports))
    startup.wait("kube-apiserver", apiserver, lambda: processes.http_ok(f"{apiserver_url}/readyz", context), started)

    # The controller manager and the scheduler start side by side and are awaited together.
    started = time.monotonic()
    insecure = processes.insecure_context()
    controller_manager = startup.start(
        "kube-controller-manager", components.controller_manager_command(binaries, files, ports)
    )
    scheduler = startup.start("kube-scheduler", components.scheduler_command(binaries, files, ports))
    startup.wait(
        "kube-controller-manager", controller_manager,
        lambda: processes.http_ok(f"https://{processes.LOOPBACK}:{ports.controller_manager}/healthz", insecure), started,
    )
    startup.wait(
        "kube-scheduler", scheduler,
        lambda: processes.http_ok(f"https://{processes.LOOPBACK}:{ports.scheduler}/healthz", insecure), started,
    )

    start_jobset(startup, binaries, files, ports)
    start_kwok(startup, binaries, files, nodes)


def start_jobset(startup: Startup, binaries: Path, files: components.Files, ports: components.Ports) -> None:
    started = time.monotonic()
    jobset_dir = components.module_dir("jobset", "sigs.k8s.io/jobset")
    kubectl(binaries, files.kubeconfig, "apply", "--server-side", "-f", str(jobset_dir / components.JOBSET_CRD_FILE))
    processes.wait_until(
        "JobSet CRD",
        lambda: condition_statuses(binaries, files.kubeconfig, "Established", "crd/jobsets.jobset.x-k8s.io") == ["True"],
        None, startup.run / "logs" / "kube-apiserver.log", START_TIMEOUT,
    )

    config = components.write_jobset_config(files, ports)
    controller = startup.start("jobset-controller", components.jobset_command(binaries, config, files))
    startup.wait(
        "jobset-controller", controller,
        lambda: processes.http_ok(f"http://{processes.LOOPBACK}:{ports.jobset_health}/readyz"), started,
    )
    # Registered only once the webhook server responds, because both webhooks fail closed.
    apply_documents(
        binaries, files.kubeconfig,
        components.jobset_webhook_configurations(jobset_dir, files.ca.cert, ports.jobset_webhook),
    )


def start_kwok(startup: Startup, binaries: Path, files: components.Files, count: int) -> None:
    started = time.monotonic()
    kwok_dir = components.module_dir("kwok", "sigs.k8s.io/kwok")
    kwok = startup.start("kwok", components.kwok_command(binaries, files, kwok_dir))
    nodes = components.kwok_nodes(count)
    apply_documents(binaries, files.kubeconfig, nodes)

    startup.wait(
        "kwok", kwok,
        lambda: condition_statuses(binaries, files.kubeconfig, "Ready", "nodes", "-l", "type=kwok") == ["True"] * len(nodes),
        started,
    )


def down() -> None:
    run = run_dir()
    if load_state(run) is None:
        log.info("down: nothing running in %s", run)
        return
    stop_components(run)
    shutil.rmtree(run / "etcd", ignore_errors=True)
    log.info("down: stopped; logs kept in %s", run / "logs")


def status() -> int:
    run = run_dir()
    state = load_state(run)
    if state is None:
        print(f"not running (no {state_path(run)})")
        return 1
    healthy = state.get("ready", False)
    for component in state["components"]:
        alive = processes.is_alive(component["pid"], component["executable"])
        healthy = healthy and alive
        print(f"{component['name']:<25} pid {component['pid']:<8} {'running' if alive else 'NOT RUNNING'}")
    print(f"kubeconfig {state['kubeconfig']}")
    print("ready" if healthy else "not ready")
    return 0 if healthy else 1


def env(versions: Versions) -> None:
    run = run_dir()
    print(f"export KUBECONFIG={shlex.quote(str(kubeconfig_path(run)))}")
    print(f"export PATH={shlex.quote(str(bin_dir(versions)))}:\"$PATH\"")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hack/cluster",
        description="Build and run a local Kubernetes control plane (etcd, kube-apiserver, "
        "kube-controller-manager, kube-scheduler, JobSet, KWOK) on 127.0.0.1 for tests.",
    )
    parser.add_argument("command", choices=("up", "down", "status", "env", "build"))
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s cluster %(levelname)s %(message)s", stream=sys.stderr)
    versions = Versions.from_wrapper_modules()

    if arguments.command == "up":
        up(versions)
        env(versions)
    elif arguments.command == "down":
        down()
    elif arguments.command == "status":
        return status()
    elif arguments.command == "env":
        env(versions)
    elif arguments.command == "build":
        for name, seconds in build_all(versions, bin_dir(versions)).items():
            log.info("timing: build %s %.1f s", name, seconds)
    return 0
