"""Paths, pinned versions and the saved state of a running control plane."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

HACK_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = HACK_DIR.parent
TOOLS_DIR = HACK_DIR / "tools"

# Environment variables a developer or CI can set.
CACHE_DIR_ENV = "METRICS_OPERATOR_CACHE_DIR"
RUN_DIR_ENV = "METRICS_OPERATOR_CLUSTER_DIR"
NODE_COUNT_ENV = "METRICS_OPERATOR_KWOK_NODES"

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "metrics-operator"


def required_version(module_dir: Path, module_path: str) -> str:
    """Return the version that the wrapper go.mod in MODULE_DIR requires for MODULE_PATH."""
    go_mod = (module_dir / "go.mod").read_text(encoding="utf-8")
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module_path)}\s+(v\S+)", go_mod, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{module_dir / 'go.mod'} does not require {module_path}")
    return match.group(1)


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    etcd: str
    jobset: str
    kwok: str

    @classmethod
    def from_wrapper_modules(cls) -> Versions:
        return cls(
            kubernetes=required_version(TOOLS_DIR / "kubernetes", "k8s.io/kubernetes"),
            etcd=required_version(TOOLS_DIR / "etcd", "go.etcd.io/etcd/server/v3"),
            jobset=required_version(TOOLS_DIR / "jobset", "sigs.k8s.io/jobset"),
            kwok=required_version(TOOLS_DIR / "kwok", "sigs.k8s.io/kwok"),
        )


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR).expanduser()


def bin_dir(versions: Versions) -> Path:
    """Folder of the built binaries, one per Kubernetes version."""
    return cache_dir() / f"k8s-{versions.kubernetes}" / "bin"


def run_dir() -> Path:
    """Folder with the certificates, configs, data and logs of the running control plane."""
    path = Path(os.environ.get(RUN_DIR_ENV) or cache_dir() / "run").expanduser().resolve()
    if path == REPO_DIR or REPO_DIR in path.parents:
        raise SystemExit(f"{RUN_DIR_ENV}={path} is inside the repository; choose a folder outside {REPO_DIR}")
    return path


def kubeconfig_path(run: Path) -> Path:
    return run / "kubeconfig"


def state_path(run: Path) -> Path:
    return run / "state.json"


def load_state(run: Path) -> dict | None:
    """Return the saved state of a started control plane, or None when there is none."""
    try:
        return json.loads(state_path(run).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def save_state(run: Path, state: dict) -> None:
    temporary = state_path(run).with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    temporary.replace(state_path(run))
