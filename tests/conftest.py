"""What the suite shares: the two markers handled in one place, and one run per scenario."""

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HANDSHAKE_VIZ_SHARED", REPO.parent / "shared"))
IN_CI = bool(os.environ.get("CI"))

# Fixtures whose use makes a test live (it captures on loopback) or makes it need ../shared.
LIVE_FIXTURES = {"runs", "ipv6_runs", "watched", "compiled"}
SHARED_FIXTURES = {"shared_pcaps": "pcaps", "shared_pcaps2": "pcaps2"}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if LIVE_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.live)
        if SHARED_FIXTURES.keys() & set(item.fixturenames):
            item.add_marker(pytest.mark.needs_shared)


def pytest_runtest_setup(item) -> None:
    """The one place a test meets the machine: what it needs is there, or the test is skipped
    for a user and fails in CI (which runs as root, with ../shared beside the clone)."""
    if item.get_closest_marker("live") and os.geteuid() != 0:
        _missing("live capture needs root or CAP_NET_RAW: run `sudo make test`")
    if item.get_closest_marker("needs_shared"):
        for name in sorted({SHARED_FIXTURES[f] for f in item.fixturenames if f in SHARED_FIXTURES} or {"pcaps"}):
            if not (SHARED / name).is_dir():
                _missing(f"no shared captures at {SHARED / name} (only the project's CI has them)")


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must not skip: {reason}")
    pytest.skip(reason)


def require(present: bool, reason: str) -> None:
    """What a test needs of the machine, beyond the markers: skipped for a user, a failure in CI."""
    if not present:
        _missing(reason)


def require_command(command: str, package: str, role: str) -> None:
    """A reference tool a test checks against (tshark, tcpdump): `make test` installs it."""
    require(shutil.which(command) is not None, f"{command}, the {role}, is not installed: `sudo apt-get install {package}`")


def run_command(*args, env=None) -> subprocess.CompletedProcess:
    """The command in a fresh process, as a user runs it, so a traceback would show on stderr."""
    return subprocess.run([sys.executable, "-m", "handshake_viz", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, env=env)


def replay(*args) -> subprocess.CompletedProcess:
    return run_command("replay", *args)


def one_line_error(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The command ended in exit code with one line on stderr, no traceback, holding each word."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("handshake-viz: "), result.stderr
    assert "Traceback" not in result.stderr and all(word in lines[0] for word in words), lines[0]
    return lines[0]


MERMAID = REPO / ".venv" / "mermaid"   # mermaid's own parser, installed from npm by `make test`


def mermaid_parses(pages: list[Path]) -> None:
    """Mermaid's own parser accepts the ```mermaid block of each page (one node run for them all)."""
    require(shutil.which("node") is not None and (MERMAID / "node_modules" / "mermaid").is_dir(),
            f"mermaid's parser is not in {MERMAID}: `make test` installs it (needs npm)")
    result = subprocess.run(["node", "--input-type=module", "-", *map(str, pages)], cwd=MERMAID, capture_output=True,
                            text=True, input=(REPO / "tests" / "mermaid_parse.mjs").read_text(), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def shared_pcaps() -> Path:
    return SHARED / "pcaps"


@pytest.fixture(scope="session")
def shared_pcaps2() -> Path:
    """The second corpus."""
    return SHARED / "pcaps2"


class ScenarioRuns(Mapping):
    """Each scenario of the catalogue, run under capture the first time a test asks for it and
    then kept for the whole session: one run per scenario (and address family) per session."""

    def __init__(self, host: str):
        from handshake_viz.scenarios import SCENARIOS
        self.host, self.scenarios, self.done = host, SCENARIOS, {}

    def __getitem__(self, name: str):
        if name not in self.done:
            from handshake_viz.live.runner import run_scenario
            self.done[name] = run_scenario(self.scenarios[name], self.host)
        return self.done[name]

    def __iter__(self):
        return iter(sorted(self.scenarios))

    def __len__(self) -> int:
        return len(self.scenarios)


@pytest.fixture(scope="session")
def runs() -> ScenarioRuns:
    """Every scenario over IPv4, each run once per session, when first used."""
    return ScenarioRuns("127.0.0.1")


@pytest.fixture(scope="session")
def ipv6_runs() -> ScenarioRuns:
    return ScenarioRuns("::1")
