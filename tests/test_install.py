"""The package as a user installs it: a wheel built from the tracked files, in a fresh environment."""

import subprocess
import sys
from pathlib import Path

import scapy
from conftest import REPO


def test_the_built_wheel_installs_a_command_that_lists_and_replays(tmp_path):
    source = tmp_path / "source"   # a copy, so building writes nothing into the clone
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / name).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", tmp_path / "wheels", source], check=True)
    [wheel] = (tmp_path / "wheels").glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    # The dependencies come from this environment's site-packages, listed in a .pth file: its own
    # .pth files (the clone's editable install among them) are not read, so only the wheel is ours.
    [site] = (venv / "lib").glob("python3*/site-packages")
    (site / "dependencies.pth").write_text(str(Path(scapy.__file__).parent.parent) + "\n")
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel],
                   check=True)
    where = subprocess.run([venv / "bin" / "python", "-c", "import handshake_viz; print(handshake_viz.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert where.startswith(str(site))
    listed = subprocess.run([venv / "bin" / "handshake-viz", "list"], capture_output=True, text=True, cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.split()[0] == "handshake", listed.stderr
    replayed = subprocess.run([venv / "bin" / "handshake-viz", "replay", REPO / "captures" / "examples" / "echo.pcap",
                               "--out", tmp_path / "out", "--format", "json"], capture_output=True, text=True,
                              cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert (tmp_path / "out" / "echo.json").stat().st_size > 0
