"""The `handshake-viz` command's entry: Ctrl-C, SIGTERM and SIGHUP are caught before anything
heavy is imported, so a signal at any moment ends in one line and the shell's exit code
(128 + the signal's number), never a traceback."""

import sys

from handshake_viz.errors import Interrupted
from handshake_viz.live.interruption import interruptible


def main() -> int:
    with interruptible():
        try:
            from handshake_viz.cli import main as command
        except Interrupted as stop:
            print(f"handshake-viz: interrupted by {stop.signal_name}", file=sys.stderr)
            return stop.exit_code
        return command()
