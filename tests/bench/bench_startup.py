"""CLI start-up: `chatdesk --help` and `chatdesk sla due` against `python -c pass`, same run.

    .venv/bin/python tests/bench/bench_startup.py [--quick] [--repeat N]

Each command runs as a fresh process (the installed `chatdesk` entry point), alternating with
the baseline so a busy machine slows both alike; the median of N runs is reported as a ratio.
Target: each command <= 5x `python -c pass`. Results go to bench-results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
TARGET_RATIO = 5.0
CALENDAR = """\
timezone: Europe/Helsinki
hours: {mon: ["08:00-16:00"], tue: ["08:00-16:00"], wed: ["08:00-16:00"],
        thu: ["08:00-16:00"], fri: ["08:00-12:00", "13:00-16:00"]}
holidays: ["2026-12-24", "2026-12-25"]
"""


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 runs each instead of 15")
    parser.add_argument("--repeat", type=int, default=0)
    args = parser.parse_args()
    repeat = args.repeat or (5 if args.quick else 15)
    with tempfile.TemporaryDirectory() as tmp:
        calendar = Path(tmp) / "calendar.yaml"
        calendar.write_text(CALENDAR, encoding="utf-8")
        chatdesk = str(VENV_BIN / "chatdesk")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "chatdesk --help": [chatdesk, "--help"],
            "chatdesk sla due": [chatdesk, "sla", "due", "--calendar", str(calendar), "--start",
                                 "2026-12-28T09:00:00+02:00", "--minutes", "90"],
        }
        for cmd in commands.values():
            timed(cmd)  # warm the file cache
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeat):
            for name, cmd in commands.items():
                times[name].append(timed(cmd))
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["python -c pass"]
    rows = []
    for name, median in medians.items():
        ratio = median / base
        rows.append({"command": name, "median_ms": round(median * 1000, 1),
                     "min_ms": round(min(times[name]) * 1000, 1), "ratio": round(ratio, 2),
                     "ok": name == "python -c pass" or ratio <= TARGET_RATIO})
    print(f"{'command':<20} {'median ms':>10} {'min ms':>8} {'x pass':>7}")
    for r in rows:
        print(f"{r['command']:<20} {r['median_ms']:>10.1f} {r['min_ms']:>8.1f} {r['ratio']:>7.2f}"
              + ("" if r["ok"] else "  (target 5x MISSED)"))
    out = ROOT / "bench-results" / "startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"benchmark": "cli-startup", "repeat": repeat, "cpus": os.cpu_count(),
                               "target_ratio": TARGET_RATIO, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
