"""How Ctrl-C, SIGTERM and SIGHUP stop a run: as one Interrupted exception, raised once, so every
`with` on the way out cleans up (namespace, tracing instance, capture, child program)."""

import signal
from contextlib import contextmanager

from handshake_viz.errors import Interrupted

STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_holding: list[list[int]] = []   # one list per open held() block: the signals that waited


@contextmanager
def interruptible():
    """The stopping signals raise Interrupted once; a second signal is ignored, so that it cannot
    cut the clean-up short."""
    received = []

    def stop(number, frame):
        if received:
            return
        received.append(number)
        if _holding:
            _holding[-1].append(number)
            return
        raise Interrupted(signal.Signals(number).name, number)

    previous = {number: signal.signal(number, stop) for number in STOPPING_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def held():
    """A step that must not be cut in two (starting a child, which exists before Popen returns):
    a signal that arrives inside is raised when the block ends."""
    _holding.append([])
    try:
        yield
    finally:
        waited = _holding.pop()
        if waited:
            raise Interrupted(signal.Signals(waited[0]).name, waited[0])
