"""The `handshake-viz` command: the only place that prints or exits."""

import argparse
import json
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from handshake_viz.errors import HandshakeVizError, Interrupted, ScenarioError, UsageError
from handshake_viz.live.interruption import held, interruptible
from handshake_viz.output.files import Outputs
from handshake_viz.output.formats import (
    CAPTURE,
    DEFAULT,
    FORMATS,
    PICTURE,
    REPLAY_DEFAULT,
    TIMELINE,
    Drawing,
    names,
    parse_formats,
)
from handshake_viz.output.publish import Request, Subject, publish
from handshake_viz.render.header import to_dot as header_dot
from handshake_viz.render.state_chart import chart_dot, paths_of
from handshake_viz.replay import kernel_record_path, read_conversations, replay
from handshake_viz.scenarios import SCENARIOS
from handshake_viz.views.escape import visible
from handshake_viz.views.header import headers
from handshake_viz.views.timeline import Window
from handshake_viz.views.words import LANGUAGES, Words
from handshake_viz.wire.pcapfile import CaptureReader, write_pcap
from handshake_viz.wire.records import DATAGRAMS

DEFAULT_OUT = Path("out")
DEFAULT_CAPTURES = Path("captures")


class _Parser(argparse.ArgumentParser):
    """Misuse gets one line that says where to look, like every other error."""

    def error(self, message: str):
        self.exit(UsageError.exit_code, f"handshake-viz: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        if 0 < float(text) < float("inf"):
            return float(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"a number of seconds above 0, not {text!r}")


def _scale(text: str) -> float:
    try:
        if 0.25 <= float(text) <= 8:
            return float(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"a scale from 0.25 to 8, not {text!r}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="handshake-viz",
        description="Capture real socket sessions on loopback, or replay a capture, and draw "
                    "their TCP timelines.")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="list the scenarios")

    run = commands.add_parser("run", help="run scenarios under live capture (needs root or CAP_NET_RAW)")
    run.add_argument("names", nargs="*", metavar="NAME", help="scenarios to run (default: the default set)")
    run.add_argument("--all", action="store_true", help="run every scenario")
    run.add_argument("--ipv6", action="store_true", help="talk on ::1 instead of 127.0.0.1")
    run.add_argument("--port", type=_port, help="server port (default: a free one)")
    run.add_argument("--captures", type=Path, default=DEFAULT_CAPTURES, help="folder for the pcaps (default: captures)")

    watching = commands.add_parser(
        "watch", help="capture your own program's traffic on a loopback port (needs root or CAP_NET_RAW)",
        description="Capture loopback traffic to and from --port while COMMAND runs (or for --seconds, "
                    "or until Ctrl-C), with the socket calls of COMMAND and every process it starts, as the "
                    "kernel traced them (needs root), then write the pcap and the diagrams.")
    watching.add_argument("--port", type=_port, required=True, help="the port your server listens on")
    watching.add_argument("--seconds", type=_seconds, help="stop after this long")
    watching.add_argument("--name", help="name of the files written (default: watch-PORT)")
    watching.add_argument("--no-calls", dest="calls", action="store_false",
                          help="do not trace COMMAND's socket calls (packets and kernel states only)")
    watching.add_argument("--captures", type=Path, default=DEFAULT_CAPTURES, help="folder for the pcap (default: captures)")
    watching.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                          help="the program to run while capturing, after --")

    charting = commands.add_parser("states", help="draw the TCP state chart, with the path a conversation took")
    charting.add_argument("capture", type=Path, nargs="?", metavar="CAPTURE", help="highlight a conversation of this capture")
    charting.add_argument("--conversation", type=int, metavar="N", help="which TCP conversation (default: the first)")
    charting.add_argument("--scenario", metavar="NAME", help="run this scenario (as root) and highlight its connection")
    charting.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the chart (default: out)")
    charting.add_argument("--format", default=",".join(DEFAULT),
                          help=f"comma list of {', '.join(names(PICTURE))} (default: svg,png)")
    charting.add_argument("--force", action="store_true", help="replace files left by an earlier run")

    heading = commands.add_parser("header", help="draw one packet's IP and TCP/UDP header fields, 32 bits wide")
    heading.add_argument("capture", type=Path, metavar="CAPTURE")
    heading.add_argument("--frame", type=int, required=True, metavar="N", help="the packet's frame number")
    heading.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the drawing (default: out)")
    heading.add_argument("--format", default=",".join(DEFAULT),
                         help=f"comma list of {', '.join(names(PICTURE))} (default: svg,png)")
    heading.add_argument("--force", action="store_true", help="replace files left by an earlier run")

    replaying = commands.add_parser("replay", help="draw the conversations of a pcap/pcapng file (no privileges needed)")
    replaying.add_argument("capture", type=Path, metavar="CAPTURE")
    replaying.add_argument("--conversation", type=int, metavar="N", help="only conversation N (see the table)")

    for command in (run, watching, replaying):
        command.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the results (default: out)")
        default = ",".join(REPLAY_DEFAULT if command is replaying else DEFAULT)
        command.add_argument("--format", default=default,
                             help=f"comma list of {', '.join(names(TIMELINE) + names(CAPTURE))} (default: {default})")
        command.add_argument("--force", action="store_true", help="replace files left by an earlier run")
        command.add_argument("--max-arrows", type=int, default=60, metavar="N",
                             help="fold runs of ordinary data beyond N arrows (default 60)")
        command.add_argument("--frames", metavar="A-B", help="draw frames A to B in full")
        command.add_argument("--time", metavar="A-B", help="draw seconds A to B (from the first packet) in full")
        command.add_argument("--lang", choices=LANGUAGES, default="en", help="language of the labels and reports (en, ko)")
        command.add_argument("--scale", type=_scale, default=1.0, metavar="X",
                             help="PNG size: 1 is about 1,130 pixels wide, for a notes column; 2 for high-density screens")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with interruptible():
        try:
            return {"list": _list, "run": _run, "watch": _watch, "replay": _replay, "states": _states,
                    "header": _header}[args.command](args)
        except HandshakeVizError as error:
            _say(f"handshake-viz: {error}", err=True)
            return error.exit_code
        except KeyboardInterrupt as stop:
            return _interrupted(stop, args)


def _interrupted(stop: KeyboardInterrupt, args) -> int:
    """One line, the partial capture kept under a name no other file has, the shell's exit code."""
    if not isinstance(stop, Interrupted):  # a KeyboardInterrupt raised before our handler was in place
        stop = Interrupted("SIGINT", signal.SIGINT)
    kept = ""
    partial = stop.partial
    if partial is not None and partial.frames:
        path = args.captures / f"{partial.name}.interrupted-{time.strftime('%Y%m%d-%H%M%S')}.pcap"
        try:
            Outputs().write(path, lambda f: write_pcap(f, partial.frames, partial.linktype))
            kept = f"; the {len(partial.frames)} packets captured so far are in {path}"
        except (HandshakeVizError, OSError) as error:
            kept = f"; the packets captured so far could not be kept: {error}"
    _say(f"handshake-viz: interrupted by {stop.signal_name}{kept}", err=True)
    return stop.exit_code


def _list(args) -> int:
    width = max(map(len, SCENARIOS))
    for scenario in SCENARIOS.values():
        print(f"{scenario.name:<{width}}  {scenario.summary}")
    return 0


def _parse_range(text: str | None, kind=int, what: str = "--frames") -> tuple | None:
    """'100-250' as (100, 250)."""
    if text is None:
        return None
    first, sep, last = text.partition("-")
    try:
        low, high = kind(first), kind(last)
    except ValueError:
        low = high = None
    if not sep or low is None or high < low:
        raise UsageError(f"{what} takes a range like 100-250, not {text!r}")
    return low, high


def _request(args) -> Request:
    """The drawing options of run, watch and replay, checked before any work."""
    if args.max_arrows < 10:
        raise UsageError("--max-arrows must be at least 10")
    window = Window(args.max_arrows, _parse_range(args.frames), _parse_range(args.time, float, "--time"))
    return Request(args.out, _formats(args.format, (TIMELINE, CAPTURE)), Outputs(args.force), window,
                   args.lang, args.scale)


def _picture_request(args) -> Request:
    return Request(args.out, _formats(args.format, (PICTURE,)), Outputs(args.force))


def _formats(text: str, holding: tuple[str, ...]) -> tuple[str, ...]:
    """The formats asked, each fit for the command and with what it needs (graphviz) on this
    machine: checked before anything is captured or written."""
    formats = parse_formats(text, holding)
    for fmt in formats:
        FORMATS[fmt].needs()
    return formats


def _live():
    """The live path (it imports scapy: only when capturing). A signal during the import waits
    until it is done, as in `launch`: raised inside it, Python could drop it."""
    with held():
        from handshake_viz.live import runner
    return runner


def _run(args) -> int:
    request = _request(args)
    chosen = _chosen(args)
    outputs = request.outputs
    outputs.refuse_existing([args.captures / f"{s.name}.pcap" for s in chosen] +
                            [kernel_record_path(args.captures / f"{s.name}.pcap") for s in chosen] +
                            [args.out / FORMATS[fmt].file_name(s.name) for s in chosen for fmt in request.formats])
    outputs.check_writable([args.captures, args.out])
    host = "::1" if args.ipv6 else "127.0.0.1"
    rows, failed = [], []
    for scenario in chosen:
        result = _live().run_scenario(scenario, host, args.port)
        pcap = outputs.write(args.captures / f"{scenario.name}.pcap",
                             lambda f: write_pcap(f, result.frames, result.linktype))
        _keep_kernel_record(outputs, pcap, result.kernel)
        title = Words(args.lang).scenario_title(scenario.name, scenario.summary)
        with _said_where_kept(pcap):
            files = publish(request, Subject(scenario.name, result.conversations, result.calls, result.kernel, title,
                                             str(pcap)))
        wire = "as promised" if not result.problems else f"{len(result.problems)} problem(s)"
        rows.append((scenario.name, str(len(result.frames)), wire, _phases(result.conversations),
                     str(pcap), ", ".join(str(f) for f in files)))
        failed += [f"scenario {scenario.name}: {problem}" for problem in result.problems]
    _table(("scenario", "packets", "wire", "phases", "capture", "diagrams"), rows)
    print()
    _say(f"Diagrams are in {args.out}/, captures in {args.captures}/.")
    for line in failed:
        _say(f"handshake-viz: {line}", err=True)
    return ScenarioError.exit_code if failed else 0


@contextmanager
def _said_where_kept(pcap: Path):
    """A failure once the capture is written says where it is kept, and how to draw it."""
    try:
        yield
    except HandshakeVizError as error:
        raise type(error)(f"{error} (the capture is kept in {pcap}; `handshake-viz replay {pcap}` draws it)") from None


def _chosen(args) -> list:
    """The scenarios named, or all of them (--all), or the default set."""
    unknown = [name for name in args.names if name not in SCENARIOS]
    if unknown:
        raise UsageError(f"no scenario named {unknown[0]}; `handshake-viz list` shows them")
    if args.all:   # every one that has a form in the family asked for: one with none is asked for by name
        left_out = [s.name for s in SCENARIOS.values() if args.ipv6 and s.ipv4_only]
        if left_out:
            _say(f"Left out over IPv6 (they have no IPv6 form): {', '.join(left_out)}.")
        return [s for s in SCENARIOS.values() if s.name not in left_out]
    return [SCENARIOS[name] for name in args.names] or [s for s in SCENARIOS.values() if s.default]


def _keep_kernel_record(outputs: Outputs, pcap: Path, kernel, watching: bool = False) -> None:
    """The kernel's record beside the capture, where replay finds it again."""
    outputs.write_bytes(kernel_record_path(pcap), json.dumps(kernel.to_json(), indent=1).encode())
    if kernel.unavailable:
        _say(f"handshake-viz: note: kernel record unavailable ({kernel.unavailable}); "
             "states are inferred from the packets" + ("; the program's socket calls are not shown" if watching else ""),
             err=True)
    elif kernel.calls_unavailable:
        _say(f"handshake-viz: note: socket calls not traced ({kernel.calls_unavailable}); "
             "the diagrams show packets and the kernel's states", err=True)


def _watch(args) -> int:
    request = _request(args)
    command = args.program[1:] if args.program[:1] == ["--"] else args.program
    name = args.name or f"watch-{args.port}"
    if name in (".", "..") or any(c in name for c in "/\0") or not name.strip():
        raise UsageError(f"--name is the name of the files written, not a path: {name!r}")
    outputs = request.outputs
    pcap = args.captures / f"{name}.pcap"
    outputs.refuse_existing([pcap, kernel_record_path(pcap)] +
                            [args.out / FORMATS[fmt].file_name(name) for fmt in request.formats])
    outputs.check_writable([args.captures, args.out])
    announce = (f"capturing port {args.port} on loopback" + (f" while {' '.join(command)} runs" if command else "")
                + (f", for {args.seconds:g} s" if args.seconds is not None else "") + " (Ctrl-C to stop)")
    result = _live().watch(args.port, command, args.seconds, lambda: print(announce, file=sys.stderr, flush=True), name,
                           args.calls)
    outputs.write(pcap, lambda f: write_pcap(f, result.frames, result.linktype))
    _keep_kernel_record(outputs, pcap, result.kernel, watching=True)
    # The watched capture is drawn exactly as a replay of its pcap: one path, and an index when it holds several.
    with _said_where_kept(pcap):
        replayed = replay(pcap, request)
    _conversations(replayed, f"nothing went to or from port {args.port} on loopback: "
                             "is that the port your server listens on?")
    print()
    _say(f"{result.how_it_ended}; {len(result.frames)} packets in {pcap}; "
         f"diagrams in {args.out}/ ({_files(replayed.files)}).")
    for problem in result.problems:
        _say(f"handshake-viz: {problem}", err=True)
    return ScenarioError.exit_code if result.problems else 0


def _states(args) -> int:
    request = _picture_request(args)
    if args.capture and args.scenario:
        raise UsageError("give a capture or --scenario, not both")
    text, name = chart_dot(), "states"
    if args.capture or args.scenario:
        if args.scenario:
            if args.scenario not in SCENARIOS:
                raise UsageError(f"no scenario named {args.scenario}; `handshake-viz list` shows them")
            conversations, name = _live().run_scenario(SCENARIOS[args.scenario]).conversations, f"states-{args.scenario}"
        else:
            conversations, name = read_conversations(args.capture), f"states-{args.capture.stem}"
        tcp = [c for c in conversations if c.protocol == "tcp"]
        if args.conversation is not None:
            tcp = [c for c in tcp if c.index == args.conversation]
        if not tcp:
            raise UsageError("no such TCP conversation to highlight" if args.conversation is not None
                             else "there is no TCP conversation to highlight")
        text = chart_dot(paths_of(tcp[0]), f"The path each side took: {tcp[0].client_text} → {tcp[0].server_text}")
    files = publish(request, Subject(name, picture=Drawing(name, picture=text)))
    _say(f"Wrote {', '.join(str(f) for f in files)}.")
    return 0


def _header(args) -> int:
    request = _picture_request(args)
    frame = next((f for f in CaptureReader(args.capture) if f.frame == args.frame), None)
    if frame is None:
        raise UsageError(f"{args.capture} has no frame {args.frame}")
    title = f"{args.capture.name}, frame {args.frame}"
    layers = headers(frame.data, frame.linktype)
    if not layers:
        raise UsageError(f"{title} carries no IPv4 or IPv6 header this tool can read whole "
                         "(none, cut short, or shorter than its fixed fields)")
    name = f"{args.capture.stem}-frame{args.frame}"
    text = header_dot(layers, title + " (bytes in network order, most significant first)")
    files = publish(request, Subject(name, picture=Drawing(name, picture=text)))
    _say(f"Wrote {', '.join(str(f) for f in files)}.")
    return 0


def _replay(args) -> int:
    result = replay(args.capture, _request(args), args.conversation)
    for note in result.notes:
        _say(f"handshake-viz: note: {note}", err=True)
    held = f"; it holds {', '.join(result.held)}" if result.held else ""
    _conversations(result, f"{args.capture} holds no TCP or UDP conversation{held}.")
    print()
    _say(f"Wrote {_files(result.files)} to {args.out}/.")
    return 0


def _say(text: str, err: bool = False) -> None:
    """One line on stdout (or stderr): whatever came from outside (a file name, a reason) is
    spelled out, so no character in it can break the line or act on the terminal."""
    print(visible(text), file=sys.stderr if err else sys.stdout)


def _phases(conversations: list) -> str:
    """'handshake 3, data 4, teardown 3' for one connection; a summary for several."""
    if len(conversations) != 1:
        return f"{len(conversations)} conversations"
    [conversation] = conversations
    if conversation.protocol in DATAGRAMS:
        return f"{len(conversation.datagrams)} datagrams"
    return ", ".join(f"{phase} {last - first + 1}" for phase, first, last in conversation.phases())


def _files(files: list) -> str:
    return "1 file" if len(files) == 1 else f"{len(files)} files"


def _conversations(result, when_none: str) -> None:
    """The table of a replay's conversations (its first rows), or what to say when there are none."""
    if result.unix:
        _say(f"{result.unix} exchange(s) over Unix-domain sockets: no packets (nothing goes on a wire); "
             "their diagrams show the calls")
    if not result.conversations:
        if not result.unix:
            _say(when_none)
        return
    _table(("#", "protocol", "client", "server", "packets", "opened", "closed"), result.rows)
    if result.conversations > len(result.rows):
        _say(f"... and {result.conversations - len(result.rows)} more conversations (all are in the JSON)")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    for row in (header, *rows):
        _say("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
