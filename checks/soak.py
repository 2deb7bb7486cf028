"""make soak: the whole catalogue N times (IPv4 and IPv6 in turn) beside two busy loops, as on a
shared, loaded machine; a table of what went wrong, all zeros when the live path can be trusted.

Usage: python checks/soak.py [N]   (as root; exits 1 when anything went wrong)
"""

import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

from handshake_viz.live.runner import leftovers
from handshake_viz.scenarios import SCENARIOS

BUSY = ["sh", "-c", "while :; do :; done"]


def soak(runs: int) -> Counter:
    counts: Counter = Counter()
    busy = [subprocess.Popen(BUSY) for _ in range(2)]
    try:
        with tempfile.TemporaryDirectory(prefix="handshake-viz-soak-") as folder:
            for number in range(runs):
                command = [sys.executable, "-m", "handshake_viz", "run", "--all", "--format", "json", "--force",
                           "--out", f"{folder}/out", "--captures", f"{folder}/captures"] + (["--ipv6"] if number % 2 else [])
                started = time.monotonic()
                process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                _, stderr = process.communicate()
                problems = [line for line in stderr.splitlines() if line.startswith("handshake-viz: scenario ")]
                if problems or process.returncode not in (0, 9):   # its captures and records, for a look
                    kept = shutil.copytree(folder, f"{tempfile.gettempdir()}/handshake-viz-soak-run{number + 1}",
                                           dirs_exist_ok=True)
                    print(f"  kept in {kept}", flush=True)
                counts += _counted(problems, process, stderr, ipv6=bool(number % 2))
                counts["seconds"] += round(time.monotonic() - started)
                print(f"run {number + 1}/{runs} ({'IPv6' if number % 2 else 'IPv4'}): exit {process.returncode}, "
                      f"{len(problems)} problem(s) in {time.monotonic() - started:.0f} s", flush=True)
                for line in problems + [line for line in stderr.splitlines() if "Traceback" in line
                                        or line.startswith("handshake-viz: ") and "scenario " not in line]:
                    print(f"  {line}", flush=True)
    finally:
        for loop in busy:
            loop.kill()
            loop.wait()
    counts["leftovers"] += len(leftovers())   # of any run of ours whose process is gone
    return counts


def _counted(problems: list[str], process, stderr: str, ipv6: bool) -> Counter:
    return Counter({"runs": 1, "scenario runs": sum(not (ipv6 and s.ipv4_only) for s in SCENARIOS.values()),
                    "not as promised": sum("out of order:" not in line for line in problems),
                    "causality violations": sum("out of order:" in line for line in problems),
                    "failed runs (exit not 0 or 9)": process.returncode not in (0, 9),
                    "tracebacks": "Traceback" in stderr, "leftovers": len(leftovers(process.pid))})


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    counts = soak(runs)
    print()
    width = max(map(len, counts))
    for name in ("runs", "scenario runs", "not as promised", "causality violations",
                 "failed runs (exit not 0 or 9)", "tracebacks", "leftovers", "seconds"):
        print(f"{name:<{width}}  {counts[name]}")
    bad = sum(counts[name] for name in ("not as promised", "causality violations", "failed runs (exit not 0 or 9)",
                                        "tracebacks", "leftovers"))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
