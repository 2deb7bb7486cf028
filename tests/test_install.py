"""The package as a user installs it: a wheel built from the tracked files, in a fresh environment,
with replay's compiled core when cargo is there and without it when it is not."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import scapy
from conftest import REPO, require

# The core is built as pip builds it for a user, but unoptimised: what is tested here is the
# packaging, and a release build (link-time optimisation, one codegen unit) takes 15 s more.
QUICK_BUILD = {"CARGO_PROFILE_RELEASE_LTO": "false", "CARGO_PROFILE_RELEASE_OPT_LEVEL": "0",
               "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "16"}
CAPTURE = REPO.parent / "shared" / "pcaps" / "public" / "http_wireshark_sample.pcap"


def _installed(tmp_path: Path, env: dict) -> tuple[Path, Path]:
    """The wheel built with env, and the fresh environment it is installed in."""
    source = tmp_path / "source"   # a copy, so building writes nothing into the clone
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / name).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", tmp_path / "wheels", source], check=True, env=env)
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
    return wheel, venv


def _replays(venv: Path, tmp_path: Path, capture: Path, name: str, **setting: str) -> bytes:
    """The installed command lists the scenarios and replays capture to JSON; the JSON."""
    env = {key: value for key, value in os.environ.items() if key != "HANDSHAKE_VIZ_CORE"} | setting
    listed = subprocess.run([venv / "bin" / "handshake-viz", "list"], capture_output=True, text=True, cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.split()[0] == "handshake", listed.stderr
    replayed = subprocess.run([venv / "bin" / "handshake-viz", "replay", capture, "--out", tmp_path / name,
                               "--format", "json"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert replayed.returncode == 0, replayed.stderr
    return (tmp_path / name / f"{capture.stem}.json").read_bytes()


def _core_of(venv: Path) -> str:
    return subprocess.run([venv / "bin" / "python", "-c", "from handshake_viz.replay import replay_core; print(replay_core())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_wheel_carries_the_core_and_the_installed_command_replays_with_it(tmp_path):
    require(shutil.which("cargo") is not None, "cargo is not installed: `sudo apt-get install cargo`")
    capture = CAPTURE if CAPTURE.exists() else REPO / "captures" / "examples" / "echo.pcap"
    wheel, venv = _installed(tmp_path, os.environ | QUICK_BUILD)
    assert "handshake_viz-0.1.0.data/scripts/handshake-viz-core" in zipfile.ZipFile(wheel).namelist()
    assert _core_of(venv) == str(venv / "bin" / "handshake-viz-core")
    assert _replays(venv, tmp_path, capture, "core") == _replays(venv, tmp_path, capture, "python",
                                                                 HANDSHAKE_VIZ_CORE="python")


def test_without_cargo_the_wheel_installs_without_the_core_and_replays_the_python_way(tmp_path):
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "cargo").exists())
    wheel, venv = _installed(tmp_path, os.environ | {"PATH": path})
    assert not [name for name in zipfile.ZipFile(wheel).namelist() if "handshake-viz-core" in name]
    assert _core_of(venv) == "None"
    assert _replays(venv, tmp_path, REPO / "captures" / "examples" / "echo.pcap", "out")
