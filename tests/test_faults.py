"""Faults of the machine end in one line naming the path and what to do, a documented exit code,
and nothing half-written: a read-only or full output folder, a temporary folder that cannot be
written, an unreadable capture. The disks are small tmpfs mounts made for the test (root)."""

import os
import subprocess
from contextlib import contextmanager

import pytest
from conftest import REPO, one_line_error, require, run_command

EXAMPLES = REPO / "captures" / "examples"


@contextmanager
def tmpfs(path, *options):
    require(os.geteuid() == 0, "mounting a small tmpfs needs root")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=64k", *options)), "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_read_only_output_folder_is_one_line_error(tmp_path):
    with tmpfs(tmp_path / "ro", "ro") as out:
        one_line_error(run_command("replay", EXAMPLES / "echo.pcap", "--out", out / "o", "--format", "svg,json"), 10,
                 "cannot write", "Read-only file system", "--out")


def test_a_full_output_folder_is_one_line_and_leaves_no_half_written_file(tmp_path):
    with tmpfs(tmp_path / "full") as out:
        (out / "ballast").write_bytes(b"\0" * (64 * 1024 - 8192))   # leaves too little for the drawings
        one_line_error(run_command("replay", EXAMPLES / "echo.pcap", "--out", out, "--format", "svg,png,json"), 10,
                 "cannot write", "No space left on device")
        assert sorted(p.name for p in out.iterdir()) == ["ballast"] or all(
            not p.name.startswith(".") for p in out.iterdir())   # no temporary file left behind


def test_a_temporary_folder_that_cannot_be_written_is_passed_over_for_the_systems(tmp_path):
    """Python's tempfile tries TMPDIR, then /tmp, /var/tmp...: a read-only TMPDIR is not a fault."""
    with tmpfs(tmp_path / "ro", "ro") as temporary:
        env = {**os.environ, "TMPDIR": str(temporary)}
        result = run_command("replay", EXAMPLES / "echo.pcap", "--out", tmp_path / "out", "--format", "json", env=env)
        assert result.returncode == 0 and (tmp_path / "out" / "echo.json").exists(), result.stderr


def test_an_unreadable_capture_is_one_line_error(tmp_path):
    capture = tmp_path / "secret.pcap"
    capture.write_bytes((EXAMPLES / "echo.pcap").read_bytes())
    capture.chmod(0)
    if os.geteuid() == 0:   # root reads anything: without the capabilities that let it, it cannot
        result = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--",
                                 str(REPO / ".venv/bin/python"), "-m", "handshake_viz", "replay", str(capture),
                                 "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO)
    else:
        result = run_command("replay", capture, "--out", tmp_path / "out")
    one_line_error(result, 6, "cannot read it", "Permission denied")


@pytest.mark.parametrize("command", [("run", "echo"), ("watch", "--port", "9", "--seconds", "5")])
def test_run_and_watch_into_a_read_only_folder_stop_before_capturing(tmp_path, command):
    with tmpfs(tmp_path / "ro", "ro") as folder:
        result = run_command(*command, "--out", tmp_path / "out", "--captures", folder / "c")
        one_line_error(result, 10, "cannot write", "Read-only file system")
        assert "capturing" not in result.stdout + result.stderr and not (tmp_path / "out").exists()


@pytest.mark.live
def test_cap_net_raw_alone_captures_on_loopback_and_a_namespace_scenario_says_what_it_lacks(tmp_path):
    """As the README says: CAP_NET_RAW is enough to capture; a scenario in a private namespace
    needs root, and says which capabilities are missing (it used to end in exit 9)."""
    only_raw = ["setpriv", "--inh-caps=-all,+net_raw", "--ambient-caps=+net_raw", "--bounding-set=-all,+net_raw", "--",
                str(REPO / ".venv/bin/python"), "-m", "handshake_viz", "run"]
    where = ["--out", str(tmp_path / "o"), "--captures", str(tmp_path / "c")]
    captured = subprocess.run([*only_raw, "handshake", *where], capture_output=True, text=True, cwd=REPO)
    assert captured.returncode == 0 and (tmp_path / "c" / "handshake.pcap").exists(), captured.stderr
    refused = subprocess.run([*only_raw, "retransmission", *where], capture_output=True, text=True, cwd=REPO)
    one_line_error(refused, 3, "private network namespace", "CAP_SYS_ADMIN and CAP_NET_ADMIN missing", "sudo")


@pytest.mark.live
def test_a_run_that_fails_after_capturing_says_where_its_capture_is_kept(tmp_path, monkeypatch, capsys):
    from handshake_viz import cli
    from handshake_viz.errors import RenderError

    def failing(*_):
        raise RenderError("graphviz failed to draw svg: a planted failure")

    monkeypatch.setattr(cli, "publish", failing)
    code = cli.main(["run", "handshake", "--out", str(tmp_path / "o"), "--captures", str(tmp_path / "c")])
    [line] = capsys.readouterr().err.strip().splitlines()
    pcap = tmp_path / "c" / "handshake.pcap"
    assert code == 7 and f"the capture is kept in {pcap}" in line and f"handshake-viz replay {pcap}" in line
    assert pcap.exists()
