"""CPU per checkout of paykit and of the hand-written reference (benchmarks/place_order.py).

    python benchmarks/place_order_cpu.py [--batches 12] [--size 60]

Wall-clock ratios on a loaded machine swing from round to round; the CPU a
checkout costs the client process does not. This runs the same checkout as
place_order.py (PostgreSQL, PAYKIT_BENCH_DATABASE_URL) in interleaved batches
and prints the median and minimum CPU milliseconds per checkout (user + system,
``time.process_time``) of each side, then the Python function calls per
checkout of each side under cProfile (a load-independent measure of the work).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable

from place_order import CLOCK, Database, RawReference, paykit_order

from paykit.gateways import FakeGateway


def _cpu_ms(count: int, work: Callable[[int], None]) -> float:
    start = time.process_time()
    for i in range(count):
        work(i)
    return (time.process_time() - start) / count * 1000


def _calls(count: int, work: Callable[[int], None]) -> float:
    profile = cProfile.Profile()
    profile.enable()
    for i in range(count):
        work(i)
    profile.disable()
    return pstats.Stats(profile).total_calls / count  # type: ignore[attr-defined,no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--size", type=int, default=60)
    args = parser.parse_args()
    db = Database("postgresql")
    try:
        raw = RawReference(db)
        warm = FakeGateway(clock=CLOCK, namespace="warm")
        for i in range(100):
            paykit_order(db, warm, f"warm-p{i}")
            raw.order(warm, f"warm-r{i}")
        ours: list[float] = []
        theirs: list[float] = []
        for b in range(args.batches):
            gateway = FakeGateway(clock=CLOCK, namespace=f"b{b}")
            ours.append(
                _cpu_ms(args.size, lambda i, b=b, g=gateway: paykit_order(db, g, f"p{b}-{i}"))
            )
            theirs.append(_cpu_ms(args.size, lambda i, b=b, g=gateway: raw.order(g, f"r{b}-{i}")))
        print(
            f"CPU ms per checkout: paykit median {statistics.median(ours):.2f} min {min(ours):.2f}"
            f" | reference median {statistics.median(theirs):.2f} min {min(theirs):.2f}"
            f" | ratio of medians {statistics.median(ours) / statistics.median(theirs):.2f}"
        )
        gateway = FakeGateway(clock=CLOCK, namespace="calls")
        p = _calls(200, lambda i: paykit_order(db, gateway, f"c{i}"))
        r = _calls(200, lambda i: raw.order(gateway, f"cr{i}"))
        print(f"Python calls per checkout: paykit {p:.0f} | reference {r:.0f}")
        raw.close()
    finally:
        db.close()


if __name__ == "__main__":
    main()
