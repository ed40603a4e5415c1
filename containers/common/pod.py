"""Coordination between the metric containers of one pod, through the shared folder.

Companion metrics (io-stat, for example) sample for as long as the pod's other metrics
run, so they need to learn when those finish. Each metric container writes a marker
file when it ends, and a companion stops once every other metric of the pod has written
one. A companion in a pod with an application also stops once the wrapper reports the exit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from metrics_operator.containers.common.application import read_exit_status

log = logging.getLogger(__name__)

DONE_FOLDER = "metrics-done"
POLL_SECONDS = 1.0


def mark_done(shared_dir: Path, metric: str) -> None:
    """Record that ``metric`` finished in this pod, whatever its outcome."""
    folder = shared_dir / DONE_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / metric).touch()
    except OSError as error:
        # Companions then stop at their completions or with the pod, so this is worth a warning only.
        log.warning("cannot mark metric %s done in %s: %s", metric, folder, error)


def peers_finished(shared_dir: Path, peers: Iterable[str], *, has_application: bool) -> bool:
    """Return whether the application exited or every peer metric wrote its marker."""
    if has_application and read_exit_status(shared_dir) is not None:
        return True
    peers = list(peers)
    return bool(peers) and all((shared_dir / DONE_FOLDER / peer).exists() for peer in peers)


async def stop_when_peers_finish(
    shared_dir: Path, peers: Iterable[str], stop: asyncio.Event, *, has_application: bool
) -> None:
    """Set ``stop`` once ``peers_finished`` holds; runs until then or until cancelled."""
    peers = list(peers)
    if not peers and not has_application:
        # Nothing to wait for: the companion ends at its completions or with the pod.
        return
    while not peers_finished(shared_dir, peers, has_application=has_application):
        await asyncio.sleep(POLL_SECONDS)
    log.info("the pod's other metrics finished (%s); stopping companion metrics", ", ".join(peers) or "application")
    stop.set()
