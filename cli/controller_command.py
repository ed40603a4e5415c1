"""``metrics-operator controller``: run the operator, in a pod or against the current kubeconfig."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
from pathlib import Path

from kubernetes_asyncio import client, config

from metrics_operator.controller.config import ConfigInvalid, load_config
from metrics_operator.controller.manager import Controller, ControllerOptions

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser):
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig file (default: in-cluster config in a pod, else $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--namespace", help="watch only this namespace (default: all namespaces)")
    parser.add_argument("--config", type=Path, help="operator configuration file (YAML); MO_OPERATOR_* variables override it")
    parser.add_argument("--workers", type=int, default=4, help="MetricSets reconciled at the same time (default: %(default)s)")
    parser.add_argument("--metrics-host", default="127.0.0.1", help="address of /healthz, /readyz and /metrics (default: %(default)s)")
    parser.add_argument("--metrics-port", type=int, default=8081, help="port of /healthz, /readyz and /metrics (default: %(default)s)")
    parser.add_argument("--leader-elect", action="store_true", help="reconcile only while holding the leader Lease")
    parser.add_argument("--lease-namespace", default=os.environ.get("POD_NAMESPACE", "default"), help="namespace of the leader Lease (default: $POD_NAMESPACE or default)")
    parser.add_argument("--lease-name", default="metrics-operator", help="name of the leader Lease (default: %(default)s)")
    parser.add_argument("--identity", default=None, help="name of this instance in the Lease (default: host name and pid)")
    return run


async def _load_client_configuration(kubeconfig: Path | None) -> client.Configuration:
    configuration = client.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)
    else:
        await config.load_kube_config(config_file=str(kubeconfig) if kubeconfig else None, client_configuration=configuration)
    return configuration


async def _run(arguments: argparse.Namespace) -> int:
    operator_config = load_config(arguments.config)
    configuration = await _load_client_configuration(arguments.kubeconfig)
    options = ControllerOptions(
        namespace=arguments.namespace,
        workers=arguments.workers,
        metrics_host=arguments.metrics_host,
        metrics_port=arguments.metrics_port,
        leader_elect=arguments.leader_elect,
        lease_namespace=arguments.lease_namespace,
        lease_name=arguments.lease_name,
        identity=arguments.identity or f"{socket.gethostname()}-{os.getpid()}",
    )
    async with client.ApiClient(configuration) as api_client:
        controller = Controller(api_client, operator_config, options)
        controller.install_signal_handlers()
        log.info("starting controller %s (namespace %s, %d workers)", options.identity, options.namespace or "all", options.workers)
        return await controller.run()


def run(arguments: argparse.Namespace) -> int:
    if arguments.workers < 1:
        raise SystemExit(f"--workers {arguments.workers} is invalid: use 1 or more")
    try:
        return asyncio.run(_run(arguments))
    except ConfigInvalid as error:
        raise SystemExit(f"error: {error}") from None
