"""`make bench`: replay against tshark's per-packet TCP analysis of the same capture, side by side.

Generates a loopback-shaped capture (bench/generate.py, 1,000,000 packets by default) and runs,
one after the other, each as a child process: tshark's TCP analysis to fields; replay to JSON with
the compiled core and with the Python path (HANDSHAKE_VIZ_CORE=python); drawing one 47-packet
conversation of it as SVG and PNG, both ways; and a 200-row window of a generated 100,000-packet
conversation, both ways. For each: wall time, CPU time (user and system, children included) and
peak memory (ru_maxrss from wait4, which counts the core run by replay). Then whether issue 17's
targets are met; the exit status is 1 when one is not.
Usage: python bench/replay_vs_tshark.py [PACKETS]
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LONGEST_PUBLIC = HERE.parent.parent / "shared" / "pcaps" / "public" / "http_ipv6_long_1000_requests.pcap"
REPLAY = [sys.executable, "-m", "handshake_viz", "replay"]
CONVERSATION = 5          # one of the generated capture's 47-packet connections
LONG = 100_000            # packets of the long conversation
WINDOW = (50_000, 50_199)  # its 200 frames drawn in full


def measure(command: list[str], python_path: bool = False) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak MB) of one run of command, its output thrown away."""
    env = dict(os.environ, HANDSHAKE_VIZ_CORE="python") if python_path else None
    start = time.monotonic()
    with open(os.devnull, "wb") as devnull:
        child = subprocess.Popen(command, stdout=devnull, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}\n{child.stderr.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def generate(path: Path, packets: int, rounds: list[str] = ()) -> None:
    subprocess.run([sys.executable, str(HERE / "generate.py"), str(path), str(packets), *rounds], check=True)


def main() -> int:
    packets = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as folder:
        capture, long = Path(folder) / "loopback.pcap", Path(folder) / "long.pcap"
        generate(capture, packets)
        generate(long, LONG, [str(LONG)])
        out = ["--out", folder, "--force"]
        json = [*REPLAY, str(capture), "--format", "json", *out]
        one = [*REPLAY, str(capture), "--conversation", str(CONVERSATION), "--format", "svg,png", *out]
        window = [*REPLAY, str(long), "--frames", f"{WINDOW[0]}-{WINDOW[1]}", "--format", "svg,png", *out]
        tshark = ["tshark", "-n", "-r", str(capture), "-o", "tcp.analyze_sequence_numbers:TRUE",
                  "-o", "tcp.relative_sequence_numbers:TRUE", "-T", "fields", "-e", "frame.number",
                  "-e", "tcp.stream", "-e", "tcp.seq", "-e", "tcp.ack", "-e", "tcp.len", "-e", "tcp.analysis.flags"]
        tshark_run, core, python = measure(tshark), measure(json), measure(json, python_path=True)
        drawn, drawn_python = measure(one), measure(one, python_path=True)
        windowed, windowed_python = measure(window), measure(window, python_path=True)
        runs = [("tshark, TCP analysis to fields", tshark_run), ("replay --format json", core),
                ("  the same, Python path", python), (f"--conversation {CONVERSATION} --format svg,png", drawn),
                ("  the same, Python path", drawn_python),
                (f"{LONG:,}-packet conversation, 200-row --frames", windowed), ("  the same, Python path", windowed_python)]
        if LONGEST_PUBLIC.exists():
            runs.append((f"{LONGEST_PUBLIC.name}, svg,png",
                         measure([*REPLAY, str(LONGEST_PUBLIC), "--format", "svg,png", *out])))
    print(f"\n{packets:,} packets (the window: a {LONG:,}-packet conversation), one run each, "
          f"{os.cpu_count()} cores:\n")
    print(f"{'':<48}{'wall s':>8}{'CPU s':>8}{'peak MB':>9}")
    for name, (wall, cpu, peak) in runs:
        print(f"{name:<48}{wall:>8.2f}{cpu:>8.2f}{peak:>9.0f}")
    tshark = tshark_run
    targets = [
        (f"replay to JSON {tshark[0] / core[0]:.1f}x faster than tshark in wall time, {tshark[1] / core[1]:.1f}x in CPU "
         f"(the Python path: {tshark[0] / python[0]:.1f}x, {tshark[1] / python[1]:.1f}x); at least 15x",
         min(tshark[0] / core[0], tshark[1] / core[1]) >= 15),
        (f"replay to JSON peak memory {core[2]:.0f} MB; at most 100 MB", core[2] <= 100),
        (f"one 47-packet conversation drawn in {drawn[0]:.2f} s and {drawn[2]:.0f} MB; at most 3 s and 150 MB",
         drawn[0] <= 3 and drawn[2] <= 150),
        (f"a 200-row window of {LONG:,} packets drawn in {windowed[0]:.2f} s; at most 3 s", windowed[0] <= 3),
    ]
    print()
    for said, met in targets:
        print(f"{'met    ' if met else 'NOT MET'}  {said}")
    return 0 if all(met for _, met in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
