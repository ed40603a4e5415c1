"""The environment contract between the operator and a metric container.

The controller sets these variables on every metric container it generates, and
``python -m metrics_operator.containers`` reads them to run one collector. Keeping
the names in one module is what keeps the two sides in step.
"""

from __future__ import annotations

# JSON of one spec.metrics entry: {"name": ..., "rate": ..., "completions": ..., "options": {...}}.
METRIC = "MO_METRIC"
# Run identity: the MetricSet's uid (one run per MetricSet, because its spec is immutable),
# namespace and name.
RUN_UID = "MO_RUN_UID"
NAMESPACE = "MO_NAMESPACE"
METRICSET = "MO_METRICSET"
# The pod's name (downward API) and index in the indexed Job (JOB_COMPLETION_INDEX), and the pod count.
POD_NAME = "MO_POD_NAME"
POD_INDEX = "MO_POD_INDEX"
PODS = "MO_PODS"
# The application's command line, which collectors look for in /proc; unset without an application.
APP_COMMAND = "MO_APP_COMMAND"
# Folder shared by the application's wrapper and the collectors (an emptyDir), which contains exit-status.json.
SHARED_DIR = "MO_SHARED_DIR"
# Mount path of the storage volume being measured; unset without storage.
STORAGE_PATH = "MO_STORAGE_PATH"
# Host name of pod 0 through the headless Service, for metrics whose pods talk to each other.
LEADER_HOST = "MO_LEADER_HOST"
# Sink URL (http://metrics-sink.<namespace>.svc:8080); unset or empty when the sink is disabled.
SINK_URL = "MO_SINK_URL"
# Bearer token for the sink, from the metrics-sink-token Secret.
SINK_TOKEN = "MO_SINK_TOKEN"
# Comma-separated names of every metric in this pod, so companion metrics know which peers to wait for.
POD_METRICS = "MO_POD_METRICS"
# Seconds to wait for the application's process to appear.
PROCESS_TIMEOUT = "MO_PROCESS_TIMEOUT"

SHARED_DIR_DEFAULT = "/metrics-operator"
