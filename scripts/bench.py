"""Benchmark site.yml on the lab: cold converge to a healthy TLS cluster, then a
no-op re-run that must report changed=0.

    python3 scripts/bench.py [--runs N] [--json FILE]

Each run recreates the lab containers (fresh hosts, warm controller archive
cache, the way an operator re-provisions), so "cold" means cold hosts.
Targets (brief): cold <= 40 s, no-op <= 15 s. Exits 1 when a no-op re-run
changes anything; prints the timings either way.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lab  # noqa: E402

COLD_TARGET = 40.0
NOOP_TARGET = 15.0


def changed_total(output: str) -> int:
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", help="write the results to this file")
    a = ap.parse_args()
    lab.ensure_engine()
    image = lab.build_image("bookworm")
    lab.build_mirror()
    results = []
    try:
        for i in range(a.runs):
            lab.lab_containers(3, image)
            cold = lab.converge(capture=True)[0]
            noop, out = lab.converge(capture=True)
            changed = changed_total(out)
            results.append({"cold_s": round(cold, 1), "noop_s": round(noop, 1),
                            "noop_changed": changed})
            print(f"run {i + 1}: cold {cold:.1f}s  no-op {noop:.1f}s  no-op changed={changed}",
                  flush=True)
    finally:
        lab.lab_down()
    summary = {
        "runs": results,
        "cold_median_s": statistics.median(r["cold_s"] for r in results),
        "noop_median_s": statistics.median(r["noop_s"] for r in results),
        "targets": {"cold_s": COLD_TARGET, "noop_s": NOOP_TARGET},
    }
    print(json.dumps(summary, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if any(r["noop_changed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
