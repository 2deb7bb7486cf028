"""What tracing a program's socket calls costs: COUNT short connections (bench/short_connections.c
against tests/programs/c/echo_server.c, each connect, a byte each way, close) under
`handshake-viz watch`, with and without call tracing (--no-calls), side by side in one run,
alternating, ROUNDS times each.

For each it prints the median of: the whole command (capture, trace, analysis, JSON), and the
watched program's own time (its first packet to its last: how much the tracing slowed it).

    sudo .venv/bin/python bench/watch_calls.py [COUNT [ROUNDS]]
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def build(folder: Path) -> None:
    for source in (REPO / "bench" / "short_connections.c", REPO / "tests" / "programs" / "c" / "echo_server.c"):
        subprocess.run(["cc", "-O2", "-o", folder / source.stem, source], check=True)


def free_port() -> int:
    from handshake_viz.live.runner import free_port
    return free_port("127.0.0.1")


def watch(folder: Path, count: int, calls: bool, round_number: int) -> tuple[float, float, int]:
    """(the command's seconds, the program's seconds, calls traced) of one watch."""
    port, name = free_port(), f"{'calls' if calls else 'no-calls'}-{round_number}"
    program = f"{folder}/echo_server {port} {count} | {{ read ready; {folder}/short_connections {port} {count}; }}"
    command = [sys.executable, "-m", "handshake_viz", "watch", "--port", str(port), "--name", name, "--format", "json",
               "--out", str(folder / "out"), "--captures", str(folder / "captures"), "--force",
               *([] if calls else ["--no-calls"]), "--", "sh", "-c", program]
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    took = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"watch failed ({result.returncode}): {result.stderr.strip().splitlines()[-1]}")
    document = json.loads((folder / "out" / f"{name}.json").read_text())
    times = [p["time"] for c in document["conversations"] for p in c["packets"]]
    (folder / "captures" / f"{name}.pcap").unlink()   # 100,000 packets a round: not kept
    return took, max(times) - min(times), len(document.get("calls", []))


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if os.geteuid() != 0:
        sys.exit("the benchmark watches live traffic: run it as root (sudo make bench)")
    folder = Path(tempfile.mkdtemp(prefix="handshake-viz-bench-"))
    folder.chmod(0o755)   # under sudo, watch runs the programs as the invoking user
    try:
        build(folder)
        results: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
        for round_number in range(rounds):
            for calls in (False, True):
                results[calls].append(watch(folder, count, calls, round_number))
        print(f"{count} short connections under `handshake-viz watch`, {rounds} rounds each, medians:")
        print(f"{'':18}{'command':>10}{'program':>10}{'calls traced':>15}")
        for calls in (False, True):
            command = statistics.median(r[0] for r in results[calls])
            program = statistics.median(r[1] for r in results[calls])
            print(f"{'with calls' if calls else 'without calls':18}{command:9.2f}s{program:9.2f}s"
                  f"{statistics.median(r[2] for r in results[calls]):15.0f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
