"""Benchmark M1: what watching a run costs.

Every pipeline run measures its batches (rows, null counts and column types
per table), writes its row to ``_tf_runs`` and its measures to
``_tf_run_metrics``, and, with a ``Monitor``, judges them against the earlier
runs and works out the pipeline's health. This loads N demo-shop orders R
times into one DuckDB file with a Monitor (30 runs of history by the end),
and times each part from inside the process:

  batches   RunRecorder.batch, summed over the run's batches
  record    writing the run's rows to _tf_runs and _tf_run_metrics
  monitor   anomaly detection + health (Monitor.check, no alert channel)
  run       the whole run, wall clock

Run by hand, never in the test suite:

    python benchmarks/m1_monitor.py --orders 200000 --runs 30
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import harness

import tillflow as tl
import tillflow._pipeline as pipeline_module
from tillflow.monitor import _runs
from tillflow.monitor._monitor import Monitor


class Timed:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    harness.add_machine_options(parser)
    args = parser.parse_args()
    harness.check_machine(args, first=True)

    batch = Timed(_runs.RunRecorder.batch)
    write = Timed(_runs.write_run)
    check = Timed(Monitor.check)
    _runs.RunRecorder.batch = lambda self, *a, **k: batch(self, *a, **k)  # type: ignore[method-assign]
    pipeline_module.write_run = write  # the name the pipeline calls
    Monitor.check = lambda self, *a, **k: check(self, *a, **k)  # type: ignore[method-assign]

    rows = []
    with tempfile.TemporaryDirectory() as tmp, tl.demo_shop(orders=args.orders) as shop:
        wh = tl.warehouse.duckdb(str(Path(tmp) / "m1.duckdb"))
        monitor = Monitor()
        for i in range(args.runs):
            batch.seconds = write.seconds = check.seconds = 0.0
            start = time.perf_counter()
            run = tl.pipeline("shop", shop.source(resources=["orders"]), wh, monitor=monitor).run(
                full_refresh=True
            )
            total = time.perf_counter() - start
            rows.append((total, batch.seconds, write.seconds, check.seconds, run.total_rows))
            print(
                f"run {i + 1:>2}: {total:7.3f}s  batches {batch.seconds:6.3f}s  "
                f"record {write.seconds:6.3f}s  monitor {check.seconds:6.3f}s  rows {run.total_rows:,}"
            )
        wh.close()
    median = [statistics.median(r[k] for r in rows) for k in range(4)]
    total, batches, record, monitored = median
    print(
        f"\nmedian of {args.runs} runs of {args.orders:,} orders ({rows[0][4]:,} rows): run {total:.3f}s, "
        f"batches {batches:.3f}s ({batches / total:.1%}), record {record:.3f}s ({record / total:.1%}), "
        f"monitor {monitored:.3f}s ({monitored / total:.1%})"
    )


if __name__ == "__main__":
    main()
