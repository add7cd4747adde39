"""P3, many small frames: the per-call cost of validating 1,000 frames of
100 rows with P3's 12 rules (a rule set built per frame, as a job that
checks each file it receives would).

    python benchmarks/p3_small_frames.py [--frames 1000] [--rows 100]

Contenders: tillflow, the hand-written Polars select and pandera-polars, as
set up by ``p3_rules.py``. Prints milliseconds per frame (best of 3).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import p3_rules as p3


def per_frame_ms(setup: Callable[..., Callable[[], object]], frames: list[object]) -> float:
    best = float("inf")
    for _ in range(3):
        runs = [setup(f) for f in frames]
        start = time.perf_counter()
        for run in runs:
            run()
        best = min(best, (time.perf_counter() - start) / len(frames) * 1e3)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--rows", type=int, default=100)
    harness.add_machine_options(p)
    args = p.parse_args()
    harness.check_machine(args, first=True)
    data = p3.generate_orders(max(args.frames * args.rows, 100_000), 7)
    frames = [data.slice(i * args.rows, args.rows) for i in range(args.frames)]
    print(f"{args.frames:,} frames of {args.rows} rows x {len(p3.RULES)} rules, ms per frame (best of 3)")
    results = {
        "tillflow": per_frame_ms(p3.setup_tillflow, frames),
        "polars_hand": per_frame_ms(p3.setup_polars_hand, frames),
        "pandera_polars": per_frame_ms(p3.setup_pandera_polars, frames),
    }
    for name, ms in results.items():
        print(f"  {name:<15} {ms:8.3f} ms   ({ms / results['tillflow']:.1f}x tillflow)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
