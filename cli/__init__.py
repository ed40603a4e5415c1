"""The metrics-operator command line."""
