"""The metric catalog: one module per metric, each defining ``METRIC``."""
