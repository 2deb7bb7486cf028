"""The `handshake-viz` command's entry: Ctrl-C, SIGTERM and SIGHUP are caught before anything
heavy is imported, so a signal at any moment ends in one line and the shell's exit code
(128 + the signal's number), never a traceback."""

import signal
import sys
from contextlib import contextmanager

from handshake_viz.errors import Interrupted

STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def interruptible():
    """Ctrl-C, SIGTERM and SIGHUP raise Interrupted once, so every `with` cleans up on the way
    out; a second signal is ignored, so that it cannot cut the clean-up short."""
    received = []

    def stop(number, frame):
        if not received:
            received.append(number)
            raise Interrupted(signal.Signals(number).name, number)

    previous = {number: signal.signal(number, stop) for number in STOPPING_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def main() -> int:
    with interruptible():
        try:
            from handshake_viz.cli import main as command
        except Interrupted as stop:
            print(f"handshake-viz: interrupted by {stop.signal_name}", file=sys.stderr)
            return stop.exit_code
        return command()
