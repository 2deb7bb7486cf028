import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HANDSHAKE_VIZ_SHARED", REPO.parent / "shared"))
IN_CI = bool(os.environ.get("CI"))


def _shared(name: str) -> Path:
    """A folder of ../shared: skipped on users' clones, required in CI."""
    folder = SHARED / name
    if not folder.is_dir():
        if IN_CI:
            pytest.fail(f"CI must have the shared captures at {folder}")
        pytest.skip(f"no shared captures at {folder} (only the project's CI has them)")
    return folder


@pytest.fixture(scope="session")
def shared_pcaps() -> Path:
    return _shared("pcaps")


@pytest.fixture(scope="session")
def shared_pcaps2() -> Path:
    """The second corpus."""
    return _shared("pcaps2")


# Module fixtures that run scenarios under capture: a test that uses one is live.
LIVE_FIXTURES = {"runs", "traced"}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if LIVE_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.live)


def pytest_runtest_setup(item) -> None:
    """The one place live tests meet the machine: skipped for a user without root, a failure in CI."""
    if item.get_closest_marker("live"):
        _require_root()


def _require_root() -> None:
    """Live captures need root (or CAP_NET_RAW); CI runs as root, so there they never skip."""
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI must run the live-capture tests as root")
        pytest.skip("live capture needs root or CAP_NET_RAW: run `sudo make test`")
