"""A student's own C programs under `watch`: their socket calls, as the kernel traced them, drawn
beside the packets on the right connection, with pids and fds, in causal order.

The programs (tests/programs/c) are compiled here with the system's C compiler, as the notes
write them; each runs once per session under the real command, and the tests read what it wrote:
the JSON (calls with pid, fd and conversation), the SVG and the kernel's record beside the pcap.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO, require_command, run_command
from tests.test_explorer import page_data

PROGRAMS = REPO / "tests" / "programs" / "c"


@pytest.fixture(scope="session")
def compiled():
    """The C programs, built into a folder any user can read (under sudo, watch runs them as the user)."""
    require_command("cc", "gcc", "C compiler")
    folder = Path(tempfile.mkdtemp(prefix="handshake-viz-c-"))
    folder.chmod(0o777)   # the Unix-domain echo makes its socket files here, as the invoking user
    for source in PROGRAMS.glob("*.c"):
        subprocess.run(["cc", "-Wall", "-Werror", "-O2", "-o", folder / source.stem, source], check=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


class Watched:
    """One `handshake-viz watch` of a command: its exit, its output and what it wrote."""

    def __init__(self, folder: Path, port: int, name: str, command: str):
        self.port, self.name = port, name
        self.out, self.captures = folder / "out", folder / "captures"
        self.result = run_command("watch", "--port", port, "--name", name, "--out", self.out, "--captures", self.captures,
                                  "--format", "svg,json,md,html", "--", "sh", "-c", command)
        self.json = json.loads((self.out / f"{name}.json").read_text())
        self.record = json.loads((self.captures / f"{name}.events.json").read_text())

    @property
    def calls(self) -> list[dict]:
        return self.json["calls"]

    def svg(self, conversation: int | None = None) -> str:
        suffix = "" if conversation is None else f"-conv{conversation}"
        return svg_text(self.out / f"{self.name}{suffix}.svg")

    def packets(self, conversation: int = 0) -> list[dict]:
        return next(c for c in self.json["conversations"] if c["index"] == conversation)["packets"]


@pytest.fixture(scope="session")
def watched(compiled, tmp_path_factory):
    """Each C program (or pair) watched once; runs are shared by the tests that read them."""
    done: dict[str, Watched] = {}

    def watch(name: str, command: str) -> Watched:
        if name not in done:
            port = _free_port()
            done[name] = Watched(tmp_path_factory.mktemp(name), port,
                                 name, command.format(bin=compiled, port=port, python=sys.executable))
        return done[name]
    return watch


ECHO = "{bin}/echo_server {port} | {{ read ready; {bin}/echo_client {port}; }}"
FORKING = "{bin}/fork_server {port} 2 | {{ read ready; {bin}/echo_client {port}; {bin}/shutdown_client {port}; }}"
HALF_CLOSE = "{bin}/echo_server {port} | {{ read ready; {bin}/shutdown_client {port}; }}"
CURL = ("cd {bin} && {python} -m http.server {port} --bind 127.0.0.1 2>/dev/null & server=$!; "
        "until ss -Hltn 'sport = :{port}' | grep -q .; do sleep 0.05; done; "
        "curl -s -o /dev/null http://127.0.0.1:{port}/; kill $server; wait $server")


def svg_text(path: Path) -> str:
    """The words of an SVG, its wrapped lines joined back with spaces."""
    texts = re.findall(r">([^<]*)</text>", path.read_text())
    return " ".join(" ".join(texts).replace("&#160;", " ").split())


def named(calls: list[dict], side: str, pid: int | None = None) -> list[str]:
    return [c["call"] for c in calls if c["side"] == side and (pid is None or c["pid"] == pid)]


def one_pid(calls: list[dict], side: str) -> int:
    [pid] = {c["pid"] for c in calls if c["side"] == side}
    return pid


def the(calls: list[dict], side: str, name: str, index: int = 0) -> dict:
    return [c for c in calls if c["side"] == side and c["call"] == name][index]


def test_the_explorer_page_of_a_watch_has_the_programs_calls_and_the_kernels_congestion_control(watched):
    run = watched("echo", ECHO)
    [conversation] = page_data(run.out / "echo.html")["conversations"]
    calls = [text for row in conversation["rows"] for _, text, kind in row["m"] if kind == "call"]
    assert any(text.startswith("connect(fd") for text in calls) and any(text.startswith("listen(fd 3, 15)") for text in calls)
    assert all(conversation["graph"][side]["probes"] for side in ("client", "server"))


def test_the_echo_programs_calls_are_the_kernels_system_calls_as_the_notes_write_them(watched):
    run = watched("echo", ECHO)
    assert run.result.returncode == 0, run.result.stderr   # exit 4 if the causality checker found a call out of order
    calls = run.calls
    # The server sets SO_REUSEADDR and listen(fd, 15); the client sets TCP_NODELAY, then O_NONBLOCK
    # after connect, and polls before it reads. glibc's send and recv are sendto and recvfrom.
    assert named(calls, "server") == ["socket", "setsockopt", "bind", "listen", "accept", "recvfrom", "sendto",
                                      "recvfrom", "close", "close"]
    assert named(calls, "client") == ["socket", "setsockopt", "connect", "fcntl", "sendto", "poll", "recvfrom", "close"]
    expected = {("server", "setsockopt"): "fd 3, SOL_SOCKET, SO_REUSEADDR, 1", ("server", "listen"): "fd 3, 15",
                ("server", "bind"): f"fd 3, 127.0.0.1:{run.port}", ("client", "setsockopt"): "fd 3, IPPROTO_TCP, TCP_NODELAY, 1",
                ("client", "connect"): f"fd 3, 127.0.0.1:{run.port}", ("client", "fcntl"): "fd 3, F_SETFL, O_NONBLOCK"}
    assert {key: the(calls, *key)["args"] for key in expected} == expected
    assert the(calls, "client", "fcntl")["start"] >= the(calls, "client", "connect")["end"]


def test_the_echo_programs_calls_are_on_their_connection_with_their_pids(watched):
    run = watched("echo", ECHO)
    calls = run.calls
    assert one_pid(calls, "server") != one_pid(calls, "client") and all(c["pid"] and c["tid"] for c in calls)
    accepted = the(calls, "server", "accept")
    assert accepted["result"] == f"4 ({run.json['conversations'][0]['client']})" and accepted["conversation"] == 0
    # The listener's calls serve every connection (no conversation of their own); the rest are on the connection.
    listener = [c for c in calls if c["side"] == "server" and (c["fd"] == 3 or c["call"] == "socket")
                and c["call"] != "accept"]
    assert {c["conversation"] for c in listener} == {None}
    assert {c["conversation"] for c in calls if c not in listener} == {0}


def test_the_echo_programs_calls_come_after_the_packets_that_caused_them(watched):
    """Against the packets' own times: connect returns after the SYN+ACK, the echo is read after it
    arrived, recv() = 0 comes after the client's FIN."""
    run = watched("echo", ECHO)
    calls, packets = run.calls, run.packets()
    synack = next(p for p in packets if p["flags"] == ["SYN", "ACK"])
    assert the(calls, "client", "connect")["end"] >= synack["time"]
    echoed = [p for p in packets if p["len"] == 12][1]
    assert the(calls, "client", "recvfrom")["end"] >= echoed["time"]
    fin = next(p for p in packets if "FIN" in p["flags"])
    end_of_stream = the(calls, "server", "recvfrom", 1)
    assert end_of_stream["result"] == "0" and end_of_stream["end"] >= fin["time"]


def test_the_echo_diagram_shows_the_calls_with_their_fds_and_says_they_are_the_kernels(watched):
    svg = watched("echo", ECHO).svg()
    for text in ("listen(fd 3, 15) = 0", "fcntl(fd 3, F_SETFL, O_NONBLOCK) = 0", "connect returns 0",
                 "as the kernel traced them"):
        assert text in svg, text
    # Drawn where it returned when it waited for the FIN, on one row when the FIN came first.
    assert "recvfrom returns 0 (end of stream)" in svg or "recvfrom(fd 4, 1024 bytes) = 0 (end of stream)" in svg
    assert not re.search(r"pid \d+:", svg)   # one process per socket: no pid labels


def test_a_forking_servers_calls_carry_the_pid_of_the_process_that_made_them(watched):
    run = watched("forking", FORKING)
    assert run.result.returncode == 0, run.result.stderr
    forks = [c for c in run.calls if c["call"] == "fork"]
    [parent] = {c["pid"] for c in forks}
    for index, child in enumerate(dict.fromkeys(int(c["result"]) for c in forks)):
        on = [c for c in run.calls if c["conversation"] == index and c["side"] == "server"]
        # The child echoes; the parent closes its copy of the connected socket, and so the socket
        # is held by two processes: the diagram labels each call with its pid.
        assert {"recvfrom", "sendto"} <= set(named(on, "server", child)), on
        assert [c["fd"] for c in on if c["pid"] == parent and c["call"] == "close"] == [4], on
        svg = run.svg(index)
        for text in (f"pid {parent}: close(fd 4) = 0", f"pid {child}: recvfrom(fd 4,", f"pid {parent}: fork() = {child}"):
            assert text in svg, text


def test_a_half_close_shows_shutdown_before_its_fin_and_the_end_of_stream_after_the_servers(watched):
    run = watched("half-close", HALF_CLOSE)
    assert run.result.returncode == 0, run.result.stderr
    calls, packets = run.calls, run.packets()
    shutdown = the(calls, "client", "shutdown")
    assert shutdown["args"] == "fd 3, SHUT_WR"
    client_fin = next(p for p in packets if "FIN" in p["flags"] and p["from"] == "client")
    server_fin = next(p for p in packets if "FIN" in p["flags"] and p["from"] == "server")
    assert shutdown["start"] <= client_fin["time"] < server_fin["time"]
    last_read = [c for c in calls if c["side"] == "client" and c["call"] == "recvfrom"][-1]
    assert last_read["result"] == "0" and last_read["end"] >= server_fin["time"]
    # The client still read the whole echo after its own FIN: half-closed, not closed.
    assert [c["result"] for c in calls if c["side"] == "client" and c["call"] == "recvfrom"] == ["21", "0"]


@pytest.mark.parametrize("kind", ["stream", "dgram"])
def test_a_unix_domain_echo_gets_a_diagram_of_its_calls_and_says_why_there_are_no_packets(watched, kind):
    run = watched(f"unix-{kind}", f"{{bin}}/unix_echo {kind} {{bin}}/echo-{kind}.sock")
    assert run.result.returncode == 0, run.result.stderr
    assert "Unix-domain sockets: no packets" in run.result.stdout
    [exchange] = run.json["unix"]
    assert exchange["kind"] == f"unix-{kind}" and run.json["conversations"] == []
    assert exchange["client"].split(",")[0] != exchange["server"].split(",")[0]   # two processes: "pid N, fd M"
    assert "No packets: an AF_UNIX socket puts nothing on a wire" in svg_text(run.out / f"unix-{kind}.svg")


@pytest.mark.parametrize("kind", ["stream", "dgram"])
def test_a_unix_domain_echos_calls_move_the_message_each_way_in_order(watched, kind):
    calls = watched(f"unix-{kind}", f"{{bin}}/unix_echo {kind} {{bin}}/echo-{kind}.sock").json["unix"][0]["calls"]
    moved = [(c["side"], c["call"], c["result"]) for c in calls if c["call"] in ("read", "write", "recvfrom", "sendto")]
    message = str(len("hello over AF_UNIX\n"))
    server = ([("server", "read", message), ("server", "write", message), ("server", "read", "0")] if kind == "stream"
              else [("server", "recvfrom", message), ("server", "sendto", message)])
    assert [m for m in moved if m[0] == "client"] == [("client", "write", message), ("client", "read", message)]
    assert [m for m in moved if m[0] == "server"] == server
    # Each read returned after the write it read had begun: the kernel copies at the write.
    for write in [c for c in calls if c["call"] in ("write", "sendto")]:
        read = next(c for c in calls if c["call"] in ("read", "recvfrom") and c["side"] != write["side"])
        assert read["result"] == message and read["end"] >= write["start"]


def test_curl_against_pythons_http_server_shows_both_programs_calls(watched):
    require_command("curl", "curl", "HTTP client")
    run = watched("curl", CURL)
    assert run.result.returncode == 0, run.result.stderr
    [conversation] = run.json["conversations"]
    calls = [c for c in run.calls if c["conversation"] in (conversation["index"], None)]
    assert one_pid(calls, "client") not in {c["pid"] for c in calls if c["side"] == "server"}
    # curl connects without blocking: connect() = -1 EINPROGRESS, then it waits for the socket, and writes its request.
    client = named(calls, "client")
    assert the(calls, "client", "connect")["error"] == "EINPROGRESS"
    assert client.index("connect") < client.index("sendto") and "close" in client
    assert {"accept4", "sendto"} <= set(named(calls, "server"))
    request = the(calls, "client", "sendto")
    read = next(c for c in calls if c["side"] == "server" and c["call"] == "recvfrom" and c["result"] != "0")
    assert read["end"] >= request["start"]


def test_a_trace_buffer_that_overflows_is_reported_and_said_on_the_diagram(compiled, tmp_path):
    """A buffer too small for the calls loses events: the run says so, and so does the diagram."""
    from handshake_viz.live.runner import watch
    from handshake_viz.wire.pcapfile import write_pcap
    port = _free_port()
    flood = (f"{sys.executable} -c \"import socket; a, b = socket.socketpair(); "
             f"[a.send(b'x') and b.recv(1) for _ in range(50000)]\"")
    command = ["sh", "-c", f"{flood}; " + ECHO.format(bin=compiled, port=port)]
    result = watch(port, command, None, lambda: None, "overflow", call_buffer_kb=4)
    assert result.kernel.calls_lost > 0
    assert any("lost" in p and "events of the socket calls" in p for p in result.problems), result.problems
    pcap = tmp_path / "overflow.pcap"
    with pcap.open("wb") as out:
        write_pcap(out, result.frames, result.linktype)
    (tmp_path / "overflow.events.json").write_text(json.dumps(result.kernel.to_json()))
    drawn = run_command("replay", pcap, "--out", tmp_path / "out", "--format", "svg")
    assert drawn.returncode == 0, drawn.stderr
    svg = (tmp_path / "out" / "overflow.svg").read_text().replace("&#160;", " ")
    assert f"lost {result.kernel.calls_lost} events: calls are missing" in svg


def test_without_call_tracing_watch_draws_packets_and_states_only(compiled, tmp_path):
    port = _free_port()
    result = run_command("watch", "--port", port, "--no-calls", "--out", tmp_path / "out", "--captures", tmp_path / "c",
                         "--format", "json", "--", "sh", "-c", ECHO.format(bin=compiled, port=port))
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "out" / f"watch-{port}.json").read_text())
    assert "calls" not in document and document["conversations"][0]["kernel_agrees"]


def test_the_tracing_instances_are_gone_after_the_watches(watched):
    from handshake_viz.live.runner import leftovers
    watched("echo", ECHO)
    assert leftovers(os.getpid()) == [] and not [n for n in _instances() if n.startswith("handshake-viz-")
                                                 and not os.path.exists(f"/proc/{n.split('-')[2]}")]


def _instances() -> list[str]:
    from handshake_viz.live.tracing import TRACEFS
    folder = TRACEFS / "instances"
    return [p.name for p in folder.iterdir()] if folder.is_dir() else []


@pytest.mark.live
def test_the_cross_check_catches_the_non_blocking_connect_behind_a_python_timeout(monkeypatch):
    """A scenario's sockets block, as a C program's do; given a Python timeout, the kernel's record
    shows what that really is, and the run says where it differs from what the program meant."""
    import socket as sockets

    from handshake_viz.live.runner import run_scenario
    from handshake_viz.scenarios import SCENARIOS, Session
    blocking = Session.new_socket

    def with_timeout(self, side, kind=sockets.SOCK_STREAM):
        sock = blocking(self, side, kind)
        sock.settimeout(5.0)
        return sock

    monkeypatch.setattr(Session, "new_socket", with_timeout)
    run = run_scenario(SCENARIOS["echo"])
    differs = [p for p in run.problems if "the kernel's record differs" in p]
    assert any("client's connect(" in p and "= -1 EINPROGRESS" in p for p in differs), differs
    assert any("poll(" in p and "did not record making" in p for p in differs), differs
    assert any("ioctl(" in p and "FIONBIO" in p for p in differs), differs
    # What is drawn is what the kernel saw.
    assert [c.outcome for c in run.calls if c.name == "connect"] == ["-1 EINPROGRESS"]


def test_a_socketpair_shared_with_a_child_is_one_exchange_with_both_pids(watched):
    run = watched("socketpair", f"{{python}} {REPO / 'tests' / 'programs' / 'socketpair_echo.py'}")
    assert run.result.returncode == 0, run.result.stderr
    [exchange] = run.json["unix"]
    calls = exchange["calls"]
    assert calls[0]["call"] == "socketpair" and calls[0]["args"] == "AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC"
    parent = calls[0]["pid"]
    moved = [(c["pid"] == parent, c["call"], c["result"]) for c in calls if c["call"] in ("sendto", "recvfrom")]
    assert sorted(moved) == [(False, "recvfrom", "19"), (False, "sendto", "19"), (True, "recvfrom", "19"),
                             (True, "sendto", "19")]


def test_without_root_watch_draws_packets_only_and_says_why_in_one_line(compiled):
    """CAP_NET_RAW alone captures, as a user who is not root: tracing the kernel needs root."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    folder = Path(tempfile.mkdtemp(prefix="handshake-viz-nobody-"))
    folder.chmod(0o777)
    try:
        port = _free_port()
        as_nobody = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                     "--inh-caps=-all,+net_raw", "--ambient-caps=+net_raw", "--bounding-set=-all,+net_raw", "--"]
        result = subprocess.run([*as_nobody, str(REPO / ".venv" / "bin" / "python"), "-m", "handshake_viz", "watch",
                                 "--port", str(port), "--out", str(folder / "o"), "--captures", str(folder / "c"),
                                 "--format", "json", "--", "sh", "-c", ECHO.format(bin=compiled, port=port)],
                                capture_output=True, text=True, cwd=REPO)
        assert result.returncode == 0, result.stderr
        [note] = [line for line in result.stderr.splitlines() if line.startswith("handshake-viz:")]
        assert note == ("handshake-viz: note: kernel record unavailable (tracing the kernel needs root); states are "
                        "inferred from the packets; the program's socket calls are not shown")
        document = json.loads((folder / "o" / f"watch-{port}.json").read_text())
        assert "calls" not in document and document["conversations"][0]["handshake"] == "complete"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    from handshake_viz.live.runner import free_port
    return free_port("127.0.0.1")
