"""The command as a user runs it: exit codes, one-line errors, files written and not overwritten."""

import json
import os
import socket
import subprocess
import sys

import pytest
from conftest import REPO, one_line_error, run_command

from handshake_viz.cli import main
from handshake_viz.scenarios import SCENARIOS

EXAMPLES = REPO / "captures" / "examples"


def test_list_names_every_scenario(capsys):
    assert main(["list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names[:3] == ["handshake", "echo", "server-close"]


@pytest.mark.parametrize("name, holder", [("echo", "client"), ("server-close", "server")])
def test_replay_of_a_project_capture_draws_it_and_prints_the_table(tmp_path, capsys, name, holder):
    assert main(["replay", str(EXAMPLES / f"{name}.pcap"), "--out", str(tmp_path), "--format", "svg,dot"]) == 0
    out = capsys.readouterr().out
    assert "complete" in out and "fin" in out
    dot = (tmp_path / f"{name}.dot").read_text()
    assert "TIME_WAIT" in dot and (tmp_path / f"{name}.svg").read_bytes().startswith(b"<?xml")
    lane = "client" if holder == "client" else "server"
    assert f"{lane}\\n" in dot


def test_replay_refuses_to_overwrite_without_force(tmp_path):
    capture = EXAMPLES / "handshake.pcap"
    assert main(["replay", str(capture), "--out", str(tmp_path), "--format", "dot"]) == 0
    target = tmp_path / "handshake.dot"
    target.write_text("my notes")
    result = run_command("replay", capture, "--out", tmp_path, "--format", "dot")
    one_line_error(result, 8, "already exists", "--force")
    assert target.read_text() == "my notes"
    assert main(["replay", str(capture), "--out", str(tmp_path), "--format", "dot", "--force"]) == 0
    assert target.read_text() != "my notes"


@pytest.mark.parametrize("content, words", [
    (b"", ("empty",)),
    (b"GET / HTTP/1.1\r\n", ("not a pcap or pcapng file",)),
    (None, ("no such file",)),
])
def test_bad_input_gives_one_line_and_a_nonzero_exit(tmp_path, content, words):
    path = tmp_path / "input.pcap"
    if content is not None:
        path.write_bytes(content)
    one_line_error(run_command("replay", path, "--out", tmp_path / "out"), 6, str(path), *words)
    assert not (tmp_path / "out").exists()


def test_a_missing_graphviz_says_what_to_install(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no dot or neato on it
    result = run_command("replay", EXAMPLES / "echo.pcap", "--out", tmp_path / "out", "--format", "json,svg", env=env)
    one_line_error(result, 7, "apt-get install graphviz")
    assert not (tmp_path / "out").exists()   # checked before anything is written, the JSON too


def test_unknown_scenario_and_format_are_usage_errors():
    one_line_error(run_command("run", "no-such-scenario"), 2, "handshake-viz list")
    one_line_error(run_command("replay", EXAMPLES / "echo.pcap", "--format", "gif"), 2, "gif")


@pytest.mark.parametrize("args, words", [
    (("replay", EXAMPLES / "echo.pcap", "--max-arrows", "many"), ("--max-arrows", "handshake-viz replay --help")),
    (("watch", "--port", "99999", "--seconds", "1"), ("1 to 65535", "99999")),
    (("run", "echo", "--port", "http"), ("1 to 65535",)),
    (("watch", "--port", "9000", "--seconds", "-1"), ("above 0",)),
    (("no-such-command",), ("invalid choice", "handshake-viz --help")),
])
def test_a_misused_option_gets_one_line_that_says_where_to_look(args, words):
    one_line_error(run_command(*args), 2, *words)


@pytest.mark.live
def test_run_without_capture_privileges_stops_at_once_and_points_to_replay(tmp_path):
    result = subprocess.run(
        ["setpriv", "--bounding-set=-net_raw", "--", sys.executable, "-m", "handshake_viz", "run",
         "--out", str(tmp_path / "out"), "--captures", str(tmp_path / "captures")],
        capture_output=True, text=True, cwd=REPO)
    one_line_error(result, 3, "sudo", "CAP_NET_RAW", "replay")
    assert not (tmp_path / "out").exists() and not (tmp_path / "captures").exists()


@pytest.mark.live
def test_run_through_sudo_leaves_files_to_the_invoking_user(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SUDO_UID", "65534")
    monkeypatch.setenv("SUDO_GID", "65534")
    out, captures = tmp_path / "out", tmp_path / "captures"
    assert main(["run", "echo", "--out", str(out), "--captures", str(captures), "--format", "svg,png,json"]) == 0
    written = [out, captures, *out.iterdir(), *captures.iterdir()]
    assert {p.name for p in written} == {"out", "captures", "echo.pcap", "echo.events.json",
                                         "echo.svg", "echo.png", "echo.json"}
    assert all((p.stat().st_uid, p.stat().st_gid) == (65534, 65534) for p in written)
    table = capsys.readouterr().out
    assert "echo" in table and str(captures / "echo.pcap") in table and f"Diagrams are in {out}" in table
    document = json.loads((out / "echo.json").read_text())
    assert document["capture"] == str(captures / "echo.pcap")
    [conversation] = document["conversations"]
    assert conversation["time_wait"] == "client" and len(conversation["packets"]) == 10
    calls = document["calls"]
    assert [c["call"] for c in calls if c["side"] == "client"][:2] == ["socket", "connect"]
    assert all(c["start"] <= c["end"] for c in calls)
    # Each call names the conversation it was made on; the listener's calls were made on none.
    assert {c["call"] for c in calls if c["conversation"] is None} == {"socket", "setsockopt", "bind", "listen", "close"}
    assert {c["conversation"] for c in calls} == {conversation["index"], None}
    assert all(c["conversation"] == conversation["index"] for c in calls if c["side"] == "client")


ON_THE_MACHINES_LOOPBACK = sorted(name for name, s in SCENARIOS.items() if s.setup is None)


@pytest.mark.live
@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM], ids=["tcp", "udp"])
@pytest.mark.parametrize("name", ON_THE_MACHINES_LOOPBACK)
def test_a_busy_port_stops_every_scenario_before_it_starts(name, kind):
    """Also refused and udp-unreachable, which send to --port expecting nobody there: they used to
    run against the squatter and end in exit 9."""
    from handshake_viz.errors import PortBusyError
    from handshake_viz.live.runner import leftovers, run_scenario
    with socket.socket(socket.AF_INET, kind) as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        with pytest.raises(PortBusyError, match=f"127.0.0.1:{port}"):
            run_scenario(SCENARIOS[name], "127.0.0.1", port)
    assert leftovers(os.getpid()) == []


@pytest.mark.live
def test_a_busy_port_is_named_with_what_to_do(tmp_path):
    import socket
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = run_command("run", "handshake", "--port", port, "--out", tmp_path / "o", "--captures", tmp_path / "c")
    one_line_error(result, 4, f"127.0.0.1:{port}", "--port")


def test_a_report_alone_still_gets_the_picture_it_embeds(tmp_path):
    assert main(["replay", str(EXAMPLES / "echo.pcap"), "--out", str(tmp_path), "--format", "md"]) == 0
    report = (tmp_path / "echo.md").read_text()
    assert "![timeline](echo.svg)" in report and (tmp_path / "echo.svg").exists()


def test_a_capture_with_no_conversation_says_what_it_held(tmp_path):
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap
    ether = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")   # given: scapy would ask ARP
    capture = tmp_path / "quiet.pcap"
    wrpcap(str(capture), [ether / IP(src="192.0.2.1", dst="192.0.2.2") / ICMP()] * 2 +
           [ether / ARP(hwsrc="02:00:00:00:00:01", psrc="192.0.2.1", pdst="192.0.2.2")] +
           [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x88B5) / Raw(b"\x00" * 40)])
    result = run_command("replay", capture, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert f"{capture} holds no TCP or UDP conversation; it holds 2 frames of ICMP, 1 frame of ARP." in result.stdout
    assert result.stderr == ("handshake-viz: note: 1 frames of an ethertype handshake-viz cannot read (0x88b5): "
                             "not shown\n")


# Every command that needs no privileges, with every format: it writes that format or refuses it in one line.
COMMANDS = {"replay": ("replay", EXAMPLES / "echo.pcap"), "states": ("states", EXAMPLES / "echo.pcap"),
            "header": ("header", EXAMPLES / "echo.pcap", "--frame", "4")}
WRITES = {"svg": ["svg"], "png": ["png"], "pdf": ["pdf"], "dot": ["dot"], "mermaid": ["mermaid.md"],
          "md": ["md", "svg"], "json": ["json"], "html": ["html"]}   # the report embeds its diagram


@pytest.mark.parametrize("fmt", WRITES)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_writes_each_format_it_accepts_and_refuses_the_others_in_one_line(tmp_path, capsys, command, fmt):
    code = main([*map(str, COMMANDS[command]), "--format", fmt, "--out", str(tmp_path)])
    written = sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir())
    if command == "replay" or fmt in ("svg", "png", "pdf", "dot"):   # a picture with no timeline comes in these
        assert code == 0 and written == sorted(WRITES[fmt])
        assert all(p.stat().st_size for p in tmp_path.iterdir())
    else:
        assert code == 2 and written == []
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and f"format {fmt} does not apply here: choose from svg, png, pdf, dot" in error


@pytest.mark.live
def test_run_of_a_scenario_of_several_conversations_writes_the_index_replay_writes(tmp_path, capsys):
    assert main(["run", "backlog", "--out", str(tmp_path / "run"), "--captures", str(tmp_path / "captures"),
                 "--format", "svg"]) == 0
    assert main(["replay", str(tmp_path / "captures" / "backlog.pcap"), "--out", str(tmp_path / "replay"),
                 "--format", "svg"]) == 0
    index = (tmp_path / "run" / "backlog-index.md").read_text()
    assert index.count("backlog-conv") >= 2 and index == (tmp_path / "replay" / "backlog-index.md").read_text()


def test_run_refuses_before_capturing_when_a_mermaid_file_it_would_write_exists(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "echo.mermaid.md").write_text("notes")
    result = run_command("run", "echo", "--format", "mermaid", "--out", tmp_path / "out", "--captures", tmp_path / "c")
    one_line_error(result, 8, "echo.mermaid.md already exists", "--force")
    assert not (tmp_path / "c").exists() and (tmp_path / "out" / "echo.mermaid.md").read_text() == "notes"


def test_an_index_page_left_by_an_earlier_replay_stops_the_next_before_it_writes_anything(tmp_path):
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap
    ether = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")   # given: scapy would ask ARP
    capture = tmp_path / "two.pcap"
    wrpcap(str(capture), [ether / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=port, dport=80, flags="S")
                          for port in (40000, 40001)])
    out = tmp_path / "out"
    out.mkdir()
    (out / "two-index.md").write_text("my notes")
    one_line_error(run_command("replay", capture, "--out", out, "--format", "svg,json"), 8, "two-index.md already exists")
    assert sorted(p.name for p in out.iterdir()) == ["two-index.md"] and (out / "two-index.md").read_text() == "my notes"


def test_run_without_graphviz_stops_before_it_captures_anything(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no dot or neato on it
    result = run_command("run", "echo", "--out", tmp_path / "out", "--captures", tmp_path / "captures", env=env)
    one_line_error(result, 7, "apt-get install graphviz")
    assert not (tmp_path / "out").exists() and not (tmp_path / "captures").exists()


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", " "])
def test_watch_name_is_a_name_not_a_path(tmp_path, name):
    one_line_error(run_command("watch", "--port", "9", "--seconds", "1", "--name", name, "--captures", tmp_path / "c",
                               "--out", tmp_path / "o"), 2, "--name is the name of the files written, not a path")
    assert list(tmp_path.iterdir()) == []


def test_a_dangling_symlink_where_a_file_would_go_is_not_replaced_without_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "echo.svg").symlink_to(tmp_path / "nowhere.svg")
    one_line_error(run_command("replay", EXAMPLES / "echo.pcap", "--out", out, "--format", "svg"), 8, "echo.svg already exists")
    assert (out / "echo.svg").is_symlink() and list(out.iterdir()) == [out / "echo.svg"]


def test_networkx_is_imported_only_by_the_drawings_that_use_it(tmp_path):
    """Importing it cost every run 0.12 s: a replay to JSON or of one conversation's timeline never
    imports it; the state chart, drawn from the table as a networkx graph, does."""
    def imports_networkx(*argv: str) -> bool:
        code = ("import sys; from handshake_viz.cli import main; "
                f"assert main({list(argv)!r}) == 0; print('networkx' in sys.modules)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()[-1] == "True"

    capture = str(EXAMPLES / "echo.pcap")
    assert not imports_networkx("replay", capture, "--format", "json", "--out", "json")
    assert not imports_networkx("replay", capture, "--format", "svg,png,html", "--out", "drawn")
    assert imports_networkx("states", "--out", "chart")
