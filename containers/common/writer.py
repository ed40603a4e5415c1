"""The buffer between collectors and storage, drained into a local store or the sink.

Collectors call ``add_sample`` and ``add_result`` from their sampling loop; both only
append to memory. ``flush`` hands the buffered rows to a ``Destination`` (the embedded
DuckDB store in local mode, the sink's HTTP API in a pod) in one columnar batch.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Protocol

import pyarrow as pa


@dataclass
class SampleColumns:
    """A batch of samples as parallel columns, the shape both DuckDB and the sink take."""

    metric: list[str] = dataclass_field(default_factory=list)
    pod: list[str] = dataclass_field(default_factory=list)
    series: list[str] = dataclass_field(default_factory=list)
    field: list[str] = dataclass_field(default_factory=list)
    timestamp: list[float] = dataclass_field(default_factory=list)  # Unix seconds
    value: list[float] = dataclass_field(default_factory=list)

    def __len__(self) -> int:
        return len(self.value)

    def append(self, metric: str, pod: str, series: str, name: str, timestamp: float, value: float) -> None:
        self.metric.append(metric)
        self.pod.append(pod)
        self.series.append(series)
        self.field.append(name)
        self.timestamp.append(timestamp)
        self.value.append(value)

    def to_arrow(self) -> pa.Table:
        """Convert to an Arrow table with the same column names (text as string, numbers as float64)."""
        text, number = pa.string(), pa.float64()
        return pa.table(
            {
                "metric": pa.array(self.metric, text),
                "pod": pa.array(self.pod, text),
                "series": pa.array(self.series, text),
                "field": pa.array(self.field, text),
                "timestamp": pa.array(self.timestamp, number),
                "value": pa.array(self.value, number),
            }
        )

    def to_dict(self) -> dict[str, list]:
        return {
            "metric": self.metric,
            "pod": self.pod,
            "series": self.series,
            "field": self.field,
            "timestamp": self.timestamp,
            "value": self.value,
        }


@dataclass(frozen=True)
class ResultRow:
    """One structured, one-off result of a metric (a fio report, an iperf3 summary)."""

    metric: str
    pod: str
    timestamp: float
    data: dict[str, Any]


class Destination(Protocol):
    """Something that durably stores batches: the local store or the sink client."""

    async def write(self, samples: SampleColumns, results: list[ResultRow]) -> None: ...


class SampleWriter:
    """Buffers one pod's samples and results and flushes them to a destination."""

    def __init__(self, destination: Destination, pod: str, flush_rows: int = 5000, flush_seconds: float = 5.0):
        self.destination = destination
        self.pod = pod
        # A batch goes out at flush_rows rows, or flush_seconds after the last flush, whichever comes
        # first: a slow metric (13 rows a second) would otherwise keep its rows for minutes.
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._last_flush = time.monotonic()
        self._samples = SampleColumns()
        self._results: list[ResultRow] = []
        self._lock = asyncio.Lock()
        # Samples per metric so far, for progress displays and the closing summary.
        self.counts: dict[str, int] = {}
        self.latest: dict[str, dict[str, float]] = {}

    def add_sample(self, metric: str, values: dict[str, float], *, series: str = "total", timestamp: float | None = None) -> None:
        """Buffer one sample: several named values of one metric taken at one instant."""
        taken_at = time.time() if timestamp is None else timestamp
        for name, value in values.items():
            if value is None or not math.isfinite(value):
                continue
            self._samples.append(metric, self.pod, series, name, taken_at, float(value))
        self.counts[metric] = self.counts.get(metric, 0) + 1
        self.latest[metric] = dict(values)

    def add_result(self, metric: str, data: dict[str, Any], *, timestamp: float | None = None) -> None:
        self._results.append(ResultRow(metric, self.pod, time.time() if timestamp is None else timestamp, data))

    def pending(self) -> int:
        return len(self._samples) + len(self._results)

    async def flush(self) -> None:
        """Send everything buffered; on failure the rows stay buffered for the next flush."""
        async with self._lock:
            self._last_flush = time.monotonic()
            if not self.pending():
                return
            samples, results = self._samples, self._results
            self._samples, self._results = SampleColumns(), []
            try:
                await self.destination.write(samples, results)
            except BaseException:
                # Put the rows back in front, so a later flush sends them in order.
                for column, values in samples.to_dict().items():
                    getattr(self._samples, column)[:0] = values
                self._results[:0] = results
                raise

    async def maybe_flush(self) -> None:
        """Flush when the buffer is full or the oldest unsent rows have waited flush_seconds."""
        if len(self._samples) >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_seconds:
            await self.flush()
