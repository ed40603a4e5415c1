"""Local mode: run a MetricSet on this machine, without a cluster."""
