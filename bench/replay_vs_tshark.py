"""`make bench`: replay to JSON against tshark's per-packet TCP analysis of the same capture.

Generates a loopback-shaped capture (bench/generate.py), then runs each tool once as a child
process and reads its wall time and peak memory (ru_maxrss from wait4).
Usage: python bench/replay_vs_tshark.py [PACKETS]   (default 1,000,000)
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LONGEST_PUBLIC = HERE.parent.parent / "shared" / "pcaps" / "public" / "http_ipv6_long_1000_requests.pcap"


def measure(command: list[str]) -> tuple[float, float]:
    """(seconds, peak MB) of one run of command, its output thrown away."""
    start = time.monotonic()
    with open(os.devnull, "wb") as devnull:
        child = subprocess.Popen(command, stdout=devnull, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}\n{child.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    packets = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as folder:
        capture = Path(folder) / "loopback.pcap"
        subprocess.run([sys.executable, str(HERE / "generate.py"), str(capture), str(packets)], check=True)
        runs = {
            "tshark (TCP analysis)": ["tshark", "-n", "-r", str(capture),
                                      "-o", "tcp.analyze_sequence_numbers:TRUE",
                                      "-o", "tcp.relative_sequence_numbers:TRUE", "-T", "fields",
                                      "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.seq",
                                      "-e", "tcp.ack", "-e", "tcp.len", "-e", "tcp.analysis.flags"],
            "handshake-viz replay --format json": [sys.executable, "-m", "handshake_viz", "replay",
                                                   str(capture), "--format", "json", "--out", folder],
        }
        results = {name: measure(command) for name, command in runs.items()}
    print(f"\n{packets:,} packets, one run each, {os.cpu_count()} cores:\n")
    print(f"{'tool':<38}{'seconds':>9}{'peak MB':>10}{'packets/s':>12}")
    for name, (seconds, peak) in results.items():
        print(f"{name:<38}{seconds:>9.2f}{peak:>10.0f}{packets / seconds:>12,.0f}")
    tshark, ours = results["tshark (TCP analysis)"][0], results["handshake-viz replay --format json"][0]
    print(f"\nhandshake-viz takes {ours / tshark:.2f}x tshark's time "
          f"({'faster' if ours < tshark else 'slower'}; the target is 0.10x).")
    if LONGEST_PUBLIC.exists():
        with tempfile.TemporaryDirectory() as folder:
            seconds, peak = measure([sys.executable, "-m", "handshake_viz", "replay", str(LONGEST_PUBLIC),
                                     "--format", "svg,png", "--out", folder])
        print(f"Drawing the longest public capture ({LONGEST_PUBLIC.name}, one 4,102-packet conversation) "
              f"as SVG and PNG with default options: {seconds:.2f} s, {peak:.0f} MB.")


if __name__ == "__main__":
    main()
