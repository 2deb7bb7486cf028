"""Private network namespaces for scenarios that need loss or held packets.

Loss and delay are never made on the machine's own loopback: a scenario that needs them runs
inside a namespace this module creates (its own `lo`, 127.0.0.1 and ::1), sets up with `tc` or
`nft` there, and always removes, also on an error or Ctrl-C. Entering it is per thread
(setns(2)); threads started inside inherit it, so the capture and the scenario's sockets live
there, and the calling thread goes back where it was afterwards.
"""

import ctypes
import itertools
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

from handshake_viz.errors import PrivilegeError, ScenarioError

CLONE_NEWNET = 0x40000000
_names = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise ScenarioError(f"cannot enter the network namespace: {os.strerror(error)}")


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ScenarioError(f"`{' '.join(command)}` failed: {result.stderr.strip() or result.returncode}")


PORT_WINDOWS = 400      # windows of 100 client ports between 20000 and 59999, one chosen by pid


def _port_window() -> str:
    """This run's own client ports. Tracepoints are machine-wide and carry no namespace, and
    Linux picks a connection's first ephemeral port from its addresses alone, so runs side by side
    in namespaces of their own would otherwise make the same 4-tuples and mix their kernel records."""
    first = 20000 + (os.getpid() % PORT_WINDOWS) * 100
    return f"{first} {first + 99}"


CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21


def _require_root() -> None:
    """Making a namespace (and its qdisc or nft table) needs CAP_SYS_ADMIN and CAP_NET_ADMIN, not
    only a root uid: checked in the effective set, as the kernel does, before anything is made."""
    effective = next((int(line.split()[1], 16) for line in Path("/proc/self/status").read_text().splitlines()
                      if line.startswith("CapEff:")), 0)
    missing = [name for name, bit in (("CAP_SYS_ADMIN", CAP_SYS_ADMIN), ("CAP_NET_ADMIN", CAP_NET_ADMIN))
               if not effective >> bit & 1]
    if missing:
        raise PrivilegeError(f"this scenario makes a private network namespace, which needs root ({' and '.join(missing)} "
                             "missing): run it with sudo (`sudo make scenarios`)")


@contextmanager
def namespace(setup: tuple[tuple[str, ...], ...] = ()):
    """A fresh namespace with `lo` up and each setup command run inside it (with `ip netns
    exec`); the calling thread is inside it for the duration of the block."""
    _require_root()
    name = f"handshake-viz-{os.getpid()}-{next(_names)}"
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _run(["ip", "netns", "add", name])
        _run(["ip", "-n", name, "link", "set", "lo", "up"])
        _run(["ip", "netns", "exec", name, "sysctl", "-q", "-w", f"net.ipv4.ip_local_port_range={_port_window()}"])
        for command in setup:
            _run(["ip", "netns", "exec", name, *command])
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield name
        finally:
            _setns(home)
    finally:
        os.close(home)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def ours() -> list[str]:
    """The names of every run's namespaces present now (ours are named handshake-viz-PID-N)."""
    result = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in result.stdout.splitlines() if line.startswith("handshake-viz-")]


def remove(name: str) -> None:
    """Remove a namespace a dead run left."""
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
