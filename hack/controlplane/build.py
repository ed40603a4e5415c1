"""Build the control plane binaries from the wrapper Go modules in hack/tools.

Each wrapper module pins one upstream module in its go.mod and go.sum. A build
is skipped when its binaries exist and its stamp file records the same inputs
(go.mod, go.sum, Go version and flags), so a warm start builds nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .layout import TOOLS_DIR, Versions

log = logging.getLogger("cluster")


@dataclass(frozen=True)
class BuildGroup:
    """Binaries built by one `go build` run in one wrapper module."""

    name: str
    module_dir: Path
    # Binary name in the cache folder mapped to the Go package it is built from.
    binaries: dict[str, str]
    ldflags: tuple[str, ...] = ()


def version_ldflags(package: str, version: str) -> tuple[str, ...]:
    """Return -X flags that stamp a Kubernetes version into component-base or client-go."""
    major, minor = version.lstrip("v").split(".")[:2]
    return (
        f"-X {package}.gitVersion={version}",
        f"-X {package}.gitMajor={major}",
        f"-X {package}.gitMinor={minor}",
        f"-X {package}.gitTreeState=clean",
    )


def build_groups(versions: Versions) -> list[BuildGroup]:
    return [
        BuildGroup(
            name="etcd",
            module_dir=TOOLS_DIR / "etcd",
            binaries={"etcd": "go.etcd.io/etcd/server/v3"},
        ),
        BuildGroup(
            name="kubernetes",
            module_dir=TOOLS_DIR / "kubernetes",
            binaries={
                "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
                "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
                "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
                "kubectl": "k8s.io/kubernetes/cmd/kubectl",
            },
            ldflags=version_ldflags("k8s.io/component-base/version", versions.kubernetes)
            + version_ldflags("k8s.io/client-go/pkg/version", versions.kubernetes),
        ),
        BuildGroup(
            name="jobset",
            module_dir=TOOLS_DIR / "jobset",
            binaries={"jobset-controller": "sigs.k8s.io/jobset"},
            ldflags=(f"-X sigs.k8s.io/jobset/pkg/version.GitVersion={versions.jobset}",),
        ),
        BuildGroup(
            name="kwok",
            module_dir=TOOLS_DIR / "kwok",
            binaries={"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
        ),
    ]


def go_environment() -> dict[str, str]:
    env = dict(os.environ)
    # Use the installed Go only: a go.mod toolchain line must not trigger a download.
    env["GOTOOLCHAIN"] = "local"
    env["CGO_ENABLED"] = "0"
    # The wrapper modules live inside this repository's git work tree, and
    # stamping its VCS state into the binaries would change them on every commit.
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -buildvcs=false").strip()
    return env


def go_command(group: BuildGroup, output: Path) -> list[str]:
    ldflags = " ".join(("-s", "-w", *group.ldflags))
    command = ["go", "build", "-p", "2", "-trimpath", "-ldflags", ldflags]
    packages = list(group.binaries.values())
    if len(packages) == 1:
        # `go build -o DIR` names a binary after its package (etcd's would be
        # "v3"), so a single package is written to an explicit file name.
        return [*command, "-o", str(output / next(iter(group.binaries))), packages[0]]
    # Several packages in one run compile their shared dependencies once.
    for name, package in group.binaries.items():
        if package.rsplit("/", 1)[-1] != name:
            raise RuntimeError(f"binary {name} would be written as {package.rsplit('/', 1)[-1]} by go build -o DIR")
    return [*command, "-o", str(output) + "/", *packages]


def stamp_of(group: BuildGroup, env: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((group.module_dir / name).read_bytes())
    go_version = subprocess.run(["go", "version"], env=env, check=True, capture_output=True, text=True).stdout
    digest.update(go_version.encode())
    digest.update(" ".join(go_command(group, Path("/"))).encode())
    return digest.hexdigest()


def build_all(versions: Versions, output: Path) -> dict[str, float]:
    """Build every group whose binaries are missing or stale; return seconds spent per group."""
    output.mkdir(parents=True, exist_ok=True)
    env = go_environment()
    durations: dict[str, float] = {}
    for group in build_groups(versions):
        stamp_file = output / f".{group.name}.stamp"
        stamp = stamp_of(group, env)
        binaries_present = all((output / name).is_file() for name in group.binaries)
        if binaries_present and stamp_file.is_file() and stamp_file.read_text().strip() == stamp:
            log.info("build %s: up to date in %s", group.name, output)
            continue

        command = go_command(group, output)
        log.info("build %s: started (%s)", group.name, " ".join(group.binaries))
        started = time.monotonic()
        result = subprocess.run(command, cwd=group.module_dir, env=env)
        if result.returncode != 0:
            raise SystemExit(
                f"build {group.name} failed with exit code {result.returncode}: "
                f"cd {group.module_dir} && {shlex.join(command)}"
            )
        durations[group.name] = time.monotonic() - started
        stamp_file.write_text(stamp + "\n")
        log.info("build %s: finished in %.1f s", group.name, durations[group.name])
    return durations
