"""The operator: reconciles each MetricSet into a JobSet and its namespace's sink.

``runtime`` is the plumbing (API client, informers, work queue, leader election,
HTTP endpoints) and does not import anything about MetricSets. The other modules are
the domain code, one per owned kind, on top of it.
"""
