"""Local Kubernetes control plane for tests: build from Go modules, start, stop.

The entry point is hack/cluster. Each module covers one concern:

- layout.py: paths, pinned versions and the saved state;
- build.py: Go builds into the cache;
- pki.py: certificates and keys;
- processes.py: starting, probing and stopping processes;
- components.py: command lines and config files of each component;
- cli.py: the up, down, status, env and build commands.
"""
