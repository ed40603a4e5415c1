"""Compare the sink's two sample body formats: JSON columns and an Arrow IPC stream.

Run with ``.venv/bin/python test/sink/bench_wire_format.py``. It prints, per format,
the client's encoding time, the body size, and the sink's decode-and-validate time
for one 5,000-row batch (the push client's default flush size), averaged over 50 runs.
No network is involved: the HTTP cost is the same apart from the body size.
"""

from __future__ import annotations

import json
import random
import time

from metrics_operator.containers.common.push import sample_columns_to_arrow_stream
from metrics_operator.containers.common.writer import SampleColumns
from metrics_operator.sink.payloads import parse_json_object, sample_table_from_arrow, sample_table_from_json

ROWS = 5000
REPEATS = 50
MAX_ROWS = 1_000_000


def milliseconds(operation) -> tuple[float, object]:
    """Return the mean time of ``operation`` over REPEATS calls, in ms, and its last result."""
    started = time.perf_counter()
    for _ in range(REPEATS):
        result = operation()
    return (time.perf_counter() - started) / REPEATS * 1000, result


def main() -> None:
    rng = random.Random(1)
    batch = SampleColumns()
    for index in range(ROWS):
        batch.append("perf-proc", "pod-0", "total", f"field_{index % 12}", 1796400000 + index * 0.1, rng.random() * 1e6)

    json_encode, json_body = milliseconds(lambda: json.dumps(batch.to_dict()).encode())
    arrow_encode, arrow_body = milliseconds(lambda: sample_columns_to_arrow_stream(batch))
    json_decode, _ = milliseconds(lambda: sample_table_from_json(parse_json_object(json_body), MAX_ROWS))
    arrow_decode, _ = milliseconds(lambda: sample_table_from_arrow(arrow_body, MAX_ROWS))

    print(f"{ROWS} rows   encode ms   body bytes   sink decode+validate ms")
    print(f"JSON        {json_encode:9.2f}   {len(json_body):10d}   {json_decode:9.2f}")
    print(f"Arrow IPC   {arrow_encode:9.2f}   {len(arrow_body):10d}   {arrow_decode:9.2f}")


if __name__ == "__main__":
    main()
