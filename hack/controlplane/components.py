"""Command lines and config files of each control plane component.

Every server listens on 127.0.0.1 and a free port picked at start-up, because
the default ports (2379, 6443, 10257, 10259, JobSet's 8443, 8081 and 9443)
may be taken by another cluster or another engineer's run on the same machine.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from .build import go_environment
from .layout import TOOLS_DIR
from .pki import Pair
from .processes import LOOPBACK

# Controllers of kube-controller-manager that tests rely on.
CONTROLLERS = (
    "job-controller",
    "garbage-collector-controller",
    "namespace-controller",
    # The ServiceAccount admission plugin rejects pods in a namespace that has
    # no "default" ServiceAccount yet.
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "ttl-after-finished-controller",
    "pod-garbage-collector-controller",
    # Deployments run the operator's own sink.
    "deployment-controller",
    "replicaset-controller",
    # The binder binds claims to PersistentVolumes that a test creates, because
    # nothing provisions volumes here.
    "persistentvolume-binder-controller",
    # The StorageObjectInUseProtection admission plugin puts a finalizer on
    # every claim and volume. Only these controllers remove it, so without
    # them a namespace holding a claim is never deleted.
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
)

# Annotation that marks nodes for KWOK to manage (its --manage-nodes-with-annotation-selector).
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"

# Pod stages from the KWOK module: the "general" set simulates the pod
# lifecycle (Pending, Running, then Succeeded for pods owned by a Job, and
# deletion), and the "chaos" stage fails a running pod that carries the label
# pod-container-running-failed.stage.kwok.x-k8s.io=true. KWOK uses its
# built-in pod stages only when no pod stage is configured, so every stage a
# pod needs is listed here.
KWOK_POD_STAGE_FILES = (
    "kustomize/stage/pod/general/pod-create.yaml",
    "kustomize/stage/pod/general/pod-init-container-running.yaml",
    "kustomize/stage/pod/general/pod-init-container-completed.yaml",
    "kustomize/stage/pod/general/pod-ready.yaml",
    "kustomize/stage/pod/general/pod-complete.yaml",
    "kustomize/stage/pod/general/pod-delete.yaml",
    "kustomize/stage/pod/chaos/pod-container-running-failed.yaml",
)

# Pod IPs that KWOK writes into pod status. They are only labels here (no
# traffic reaches a simulated pod), and a loopback range keeps any accidental
# connection on this machine.
KWOK_POD_CIDR = "127.64.0.0/16"

JOBSET_CRD_FILE = "config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml"
JOBSET_WEBHOOK_DIR = "config/components/webhook"


@dataclass
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    jobset_webhook: int
    jobset_metrics: int
    jobset_health: int


@dataclass
class Files:
    """Paths inside the run folder that several components share."""

    run: Path
    ca: Pair
    apiserver: Pair
    admin: Pair
    service_account: Pair
    jobset_webhook_dir: Path
    kubeconfig: Path


def module_dir(wrapper: str, module: str) -> Path:
    """Return the module cache folder of MODULE at the version the wrapper module pins."""
    output = subprocess.run(
        ["go", "mod", "download", "-json", module],
        cwd=TOOLS_DIR / wrapper,
        env=go_environment(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(json.loads(output)["Dir"])


def write_kubeconfig(path: Path, server: str, ca: Path, client: Pair) -> None:
    def encoded(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority-data": encoded(ca)}}],
        "users": [
            {
                "name": "admin",
                "user": {"client-certificate-data": encoded(client.cert), "client-key-data": encoded(client.key)},
            }
        ],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    path.chmod(0o600)


def etcd_command(bin_dir: Path, files: Files, ports: Ports) -> list[str]:
    peer_url = f"http://{LOOPBACK}:{ports.etcd_peer}"
    client_url = f"http://{LOOPBACK}:{ports.etcd_client}"
    return [
        str(bin_dir / "etcd"),
        "--name=default",
        f"--data-dir={files.run / 'etcd'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=default={peer_url}",
        # The store is thrown away with the run folder, so durability buys nothing.
        "--unsafe-no-fsync",
    ]


def apiserver_command(bin_dir: Path, files: Files, ports: Ports) -> list[str]:
    return [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://{LOOPBACK}:{ports.etcd_client}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={files.run / 'pki' / 'apiserver-generated'}",
        f"--tls-cert-file={files.apiserver.cert}",
        f"--tls-private-key-file={files.apiserver.key}",
        f"--client-ca-file={files.ca.cert}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--allow-privileged=true",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer=https://{LOOPBACK}:{ports.apiserver}",
        f"--service-account-key-file={files.service_account.cert}",
        f"--service-account-signing-key-file={files.service_account.key}",
        # No kubelet or kube-proxy runs, so the "kubernetes" Service gets no
        # endpoints instead of one pointing at this loopback address.
        "--endpoint-reconciler-type=none",
        # This plugin taints every new Node node.kubernetes.io/not-ready, and
        # only the node lifecycle controller removes that taint once the Node
        # is Ready. That controller is not run (it needs kubelet leases), so
        # the taint would keep every pod off the KWOK nodes.
        "--disable-admission-plugins=TaintNodesByCondition",
    ]


def _kube_component_flags(files: Files, name: str, port: int) -> list[str]:
    """Flags that kube-controller-manager and kube-scheduler share: admin credentials, loopback serving."""
    return [
        f"--kubeconfig={files.kubeconfig}",
        f"--authentication-kubeconfig={files.kubeconfig}",
        f"--authorization-kubeconfig={files.kubeconfig}",
        "--leader-elect=false",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",
        f"--cert-dir={files.run / 'pki' / f'{name}-generated'}",
    ]


def controller_manager_command(bin_dir: Path, files: Files, ports: Ports) -> list[str]:
    return [
        str(bin_dir / "kube-controller-manager"),
        *_kube_component_flags(files, "controller-manager", ports.controller_manager),
        f"--controllers={','.join(CONTROLLERS)}",
        "--use-service-account-credentials=false",
        f"--root-ca-file={files.ca.cert}",
        f"--service-account-private-key-file={files.service_account.key}",
    ]


def scheduler_command(bin_dir: Path, files: Files, ports: Ports) -> list[str]:
    return [str(bin_dir / "kube-scheduler"), *_kube_component_flags(files, "scheduler", ports.scheduler)]


def write_jobset_config(files: Files, ports: Ports) -> Path:
    """Write the JobSet Configuration: no leader election, certificates from the run folder."""
    config = {
        "apiVersion": "config.jobset.x-k8s.io/v1alpha1",
        "kind": "Configuration",
        "leaderElection": {"leaderElect": False},
        # The built-in rotator writes certificates into a Secret for an
        # in-cluster Service; here the webhook is reached by URL instead.
        "internalCertManagement": {"enable": False},
        "webhook": {"host": LOOPBACK, "port": ports.jobset_webhook, "certDir": str(files.jobset_webhook_dir)},
        "metrics": {"bindAddress": f"{LOOPBACK}:{ports.jobset_metrics}"},
        "health": {"healthProbeBindAddress": f"{LOOPBACK}:{ports.jobset_health}"},
    }
    path = files.run / "jobset-config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def jobset_command(bin_dir: Path, config: Path, files: Files) -> list[str]:
    return [str(bin_dir / "jobset-controller"), f"--config={config}", f"--kubeconfig={files.kubeconfig}"]


def _apply_replace_patch(document: dict, patch_file: Path) -> None:
    """Apply the `op: replace` entries of a JSON patch file, the only operation JobSet's patches use."""
    for operation in yaml.safe_load(patch_file.read_text(encoding="utf-8")):
        if operation["op"] != "replace":
            raise RuntimeError(f"{patch_file}: unsupported patch operation {operation['op']!r}")
        *parents, last = [part for part in operation["path"].split("/") if part]
        target = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = copy.deepcopy(operation["value"])
        else:
            target[last] = copy.deepcopy(operation["value"])


def jobset_webhook_configurations(jobset_dir: Path, ca_cert: Path, port: int) -> list[dict]:
    """Derive the webhook configurations from the module's manifests, pointed at 127.0.0.1:PORT.

    The module's kustomization adds object selectors to the pod webhooks
    through JSON patches, which are applied here the same way. Each service
    reference becomes a URL, and the CA bundle is the run's CA.
    """
    webhook_dir = jobset_dir / JOBSET_WEBHOOK_DIR
    documents = [d for d in yaml.safe_load_all((webhook_dir / "manifests.yaml").read_text(encoding="utf-8")) if d]
    kustomization = yaml.safe_load((webhook_dir / "kustomization.yaml").read_text(encoding="utf-8"))
    ca_bundle = base64.b64encode(ca_cert.read_bytes()).decode()

    for document in documents:
        for patch in kustomization.get("patches", []):
            target = patch["target"]
            if target["kind"] == document["kind"] and target["name"] == document["metadata"]["name"]:
                _apply_replace_patch(document, webhook_dir / patch["path"])
        # The release manifests carry the "jobset-" name prefix; keep it.
        document["metadata"] = {"name": "jobset-" + document["metadata"]["name"]}
        for webhook in document["webhooks"]:
            path = webhook["clientConfig"]["service"]["path"]
            webhook["clientConfig"] = {"url": f"https://{LOOPBACK}:{port}{path}", "caBundle": ca_bundle}
    return documents


def kwok_command(bin_dir: Path, files: Files, kwok_dir: Path) -> list[str]:
    command = [
        str(bin_dir / "kwok"),
        f"--kubeconfig={files.kubeconfig}",
        f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
        f"--cidr={KWOK_POD_CIDR}",
        f"--node-ip={LOOPBACK}",
    ]
    for stage_file in KWOK_POD_STAGE_FILES:
        command.append(f"--config={kwok_dir / stage_file}")
    return command


def kwok_nodes(count: int) -> list[dict]:
    """Fake nodes with room for thousands of pods; KWOK keeps them Ready."""
    resources = {"cpu": "1000", "memory": "4Ti", "pods": "10000", "ephemeral-storage": "10Ti"}
    nodes = []
    for index in range(count):
        name = f"kwok-node-{index}"
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
                # The apiserver keeps the status of a Node on create, so the
                # scheduler finds this capacity before KWOK's first update.
                "status": {"capacity": resources, "allocatable": resources},
            }
        )
    return nodes
