"""Live: the capture is exact and complete on a busy machine, runs side by side never meet, and
every ending cleans up (root only; always in CI)."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, require_command

from handshake_viz.live.tracing import TRACEFS
from handshake_viz.scenarios import SCENARIOS, Traffic
from handshake_viz.wire.pcapfile import CaptureReader

pytestmark = pytest.mark.live   # every test here captures on loopback
MEGABYTE = 1 << 20


def live():
    from handshake_viz.live import capture, runner
    return capture, runner


def tcpdump(path: Path, port: int) -> subprocess.Popen:
    """tcpdump writing every packet of port to path, as soon as it is listening."""
    require_command("tcpdump", "tcpdump", "reference capture")
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "262144", "-B", "65536", "--immediate-mode", "-U", "-w", str(path),
                             f"port {port}"], stderr=subprocess.PIPE, text=True)
    assert "listening on lo" in dump.stderr.readline()
    return dump


def frames_in(path: Path, count: int, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        frames = list(CaptureReader(path)) if path.stat().st_size > 24 else []
        if len(frames) >= count or time.monotonic() > deadline:
            return frames
        time.sleep(0.05)


def echo_megabyte(port: int) -> int:
    with socket.create_server(("127.0.0.1", port)) as listener:
        received = []

        def serve():
            conn, _ = listener.accept()
            with conn:
                while chunk := conn.recv(MEGABYTE):
                    received.append(len(chunk))

        server = threading.Thread(target=serve)
        server.start()
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"m" * MEGABYTE)
        server.join(10)
    return sum(received)


def test_a_megabyte_on_loopback_is_captured_frame_for_frame_as_tcpdump_captures_it(tmp_path):
    capture, runner = live()
    port = runner.free_port("127.0.0.1")
    reference = tmp_path / "tcpdump.pcap"
    dump = tcpdump(reference, port)
    try:
        pending, analysis = runner.pending_traffic(Traffic(connections=1))
        with capture.LiveCapture([port]) as ours:
            assert echo_megabyte(port) == MEGABYTE
            assert ours.wait_for(lambda records: not pending(records), 5)
        theirs = frames_in(reference, len(ours.frames))
    finally:
        dump.send_signal(signal.SIGINT)
        dump.wait(10)
    assert max(f.wire_len for f in ours.frames) == 65549   # 64 KB segments: 65,483 bytes of data
    assert all(len(f.data) == f.wire_len for f in ours.frames)
    # The same frames, byte for byte. Two captures can order frames sent at the same moment on two
    # CPUs differently (each packet socket sees the CPUs' queues interleaved its own way).
    assert sorted((f.wire_len, f.data) for f in ours.frames) == sorted((f.wire_len, f.data) for f in theirs)
    [conversation] = analysis.conversations   # the stream's bytes, each counted once even if resent
    assert max(s.rel_seq + s.record.payload_len - 1 for s in conversation.segments
               if s.sender == "client" and s.record.payload_len) == MEGABYTE


def test_a_packet_keeps_the_kernels_time_when_the_reader_is_late():
    capture, runner = live()
    port = runner.free_port("127.0.0.1")
    with capture.LiveCapture([port]) as taking, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        with taking._seen:   # the reader cannot hand packets over while this is held: it is 300 ms late
            sent = time.time()
            sender.sendto(b"ping", ("127.0.0.1", port))
            time.sleep(0.3)
        assert taking.wait_for(lambda records: len(records) >= 1, 5)   # (and the ICMP error it brings)
    assert 0 <= taking.records[0].time - sent < 0.05


def command(tmp_path: Path, *arguments: str) -> list[str]:
    return [sys.executable, "-m", "handshake_viz", *arguments, "--out", str(tmp_path / "o"),
            "--captures", str(tmp_path / "c"), "--format", "json"]


def test_runs_and_watches_side_by_side_never_break_each_other(tmp_path):
    runs = [subprocess.Popen(command(tmp_path / f"run{i}", "run", "echo", "simultaneous-close", "dns"), cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    watches = [subprocess.Popen(command(tmp_path / f"watch{i}", "watch", "--port", str(47000 + i), "--seconds", "2"),
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    from handshake_viz.live.runner import leftovers
    for process in runs + watches:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "Traceback" not in err and leftovers(process.pid) == []
    for i in range(3):
        for name in ("echo", "simultaneous-close", "dns"):
            record = (tmp_path / f"run{i}" / "c" / f"{name}.events.json").read_text()
            assert '"unavailable": null' in record and "inet_sock_set_state" not in record
            assert len(list(CaptureReader(tmp_path / f"run{i}" / "c" / f"{name}.pcap"))) >= 7
    for i in range(2):
        assert (tmp_path / f"watch{i}" / "c" / f"watch-{47000 + i}.events.json").exists()
    assert (TRACEFS / "instances").is_dir(), "tracefs was unmounted under other runs"


def signals_caught(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def wait_until(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda n: n.name)
@pytest.mark.parametrize("moment", ["importing", "setting-up", "halfway"])
def test_a_signal_at_any_moment_cleans_up_and_ends_in_one_line(tmp_path, moment, number):
    from handshake_viz.live.runner import leftovers
    # simultaneous-close makes a namespace with a qdisc; keepalive idles 2.5 s, so 1 s in is halfway.
    name = "keepalive" if moment == "halfway" else "simultaneous-close"
    running = subprocess.Popen(command(tmp_path, "run", name), cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    if moment == "importing":   # the entry has its handlers in place, the heavy imports are under way
        wait_until(lambda: signals_caught(running.pid) & (1 << (signal.SIGTERM - 1)), "the signal handlers")
    else:
        wait_until(lambda: leftovers(running.pid), "the run set up its tracing")
        if moment == "halfway":
            time.sleep(1.0)
    running.send_signal(number)
    _, err = running.communicate(timeout=30)
    assert running.returncode == 128 + number, err
    assert err.startswith(f"handshake-viz: interrupted by {number.name}") and err.count("\n") == 1, err
    assert leftovers(running.pid) == []
    kept = list((tmp_path / "c").glob(f"{name}.interrupted-*.pcap"))
    if moment == "halfway":
        [partial] = kept
        assert len(list(CaptureReader(partial))) >= 3 and str(partial) in err   # the handshake at least


def test_the_next_run_removes_what_a_killed_run_left_and_nothing_of_a_live_one(tmp_path):
    capture, runner = live()
    killed = subprocess.Popen(command(tmp_path, "run", "simultaneous-close"), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # The namespace, the tracing instances (states, calls) and the uprobe on setsockopt.
    wait_until(lambda: len(runner.leftovers(killed.pid)) == 4, "the namespace, the tracing instances and the uprobe")
    killed.kill()
    killed.wait()
    assert len(runner.leftovers(killed.pid)) == 4   # SIGKILL: it could not clean up
    living = TRACEFS / "instances" / f"handshake-viz-{os.getpid()}-999"   # this test's own, alive
    living.mkdir()
    try:
        run = runner.run_scenario(SCENARIOS["echo"])
        assert run.problems == []
        assert runner.leftovers(killed.pid) == []
        assert living.exists()
    finally:
        living.rmdir()


def test_a_watch_stopped_by_sigterm_stops_its_program_too(tmp_path):
    from handshake_viz.live.runner import leftovers
    watching = subprocess.Popen(command(tmp_path, "watch", "--port", "47010") + ["--", "sleep", "60"], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "capturing port 47010" in watching.stderr.readline()
    children = Path(f"/proc/{watching.pid}/task/{watching.pid}/children")
    wait_until(lambda: children.read_text().split(), "the watched program")
    [program] = children.read_text().split()
    watching.send_signal(signal.SIGTERM)
    _, err = watching.communicate(timeout=30)
    assert watching.returncode == 143 and err.startswith("handshake-viz: interrupted by SIGTERM"), err
    assert not Path(f"/proc/{program}").exists() and leftovers(watching.pid) == []
