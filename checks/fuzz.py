"""`make fuzz [N=20000]`: mutated captures through replay (every format), header and states, and
through replay's compiled core against the Python path.

Seeds are the small captures of ../shared/pcaps*/public and captures/examples. Each mutation
flips bits, cuts the file, writes boundary values into length and offset fields, changes link
types, or repeats and zeroes spans. Each input runs in a worker process through the command's own
`main`, so a traceback is an exception that escapes it. Its JSON is written twice, by the Python
path and by the core's checked build (`make fuzz` builds it: Rust's own checks, every index
bounds-checked and no `unsafe` in the crate, plus every arithmetic overflow made a crash), and
must be the same bytes, table and notes. Prints runs, tracebacks, exit codes that the README does
not list, ill-formed SVG or Mermaid, an explorer page whose data does not read back, a core that
crashed or wrote otherwise, and the workers' peak memory. An input that fails is kept in
tests/fuzz_regressions/, where test_fuzz_regressions.py (and test_core.py) replay it on every run.
"""

import contextlib
import io
import os
import random
import resource
import subprocess
import sys
import tempfile
import traceback
from multiprocessing import Pool
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from test_escape import _mermaid_is_sound, _svg_texts  # noqa: E402  (the tests' own checkers)
from test_explorer import page_data  # noqa: E402

from handshake_viz.cli import main  # noqa: E402
from handshake_viz.core.analysis import analyze  # noqa: E402
from handshake_viz.errors import CaptureFileError, HandshakeVizError  # noqa: E402
from handshake_viz.replay import CORE_SETTING, CaptureRecords, CoreRecords  # noqa: E402
from handshake_viz.wire.records import DATAGRAMS  # noqa: E402

SEEDS = sorted(p for folder in (REPO.parent / "shared/pcaps/public", REPO.parent / "shared/pcaps2/public",
                                REPO / "captures/examples")
               if folder.is_dir() for p in folder.iterdir()
               if p.suffix in (".pcap", ".pcapng") and p.stat().st_size <= 64 * 1024)
DOCUMENTED = {0, 2, 6, 7, 8, 10}   # what replay, header and states may end in (README, "Errors")
KEPT = REPO / "tests" / "fuzz_regressions"
CHECKED_CORE = REPO / "replay-core" / "target" / "checked" / "handshake-viz-core"
VALGRIND_EVERY, MEMCHECK_ERROR = 50, 99   # one mutation in 50 also runs the core under valgrind's memcheck
BOUNDARIES = (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 12, 20, 28, 40, 65535, 65536)
LINK_TYPES = (0, 1, 9, 101, 104, 105, 113, 127, 147, 228, 229, 239, 276, 0xFFFF)


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        if not data:
            break
        at = rng.randrange(len(data))
        if kind == 0:                                   # a bit flipped
            data[at] ^= 1 << rng.randrange(8)
        elif kind == 1:                                 # cut short
            del data[rng.randrange(len(data)):]
        elif kind == 2:                                 # a length or offset field set to a boundary
            size = rng.choice((1, 2, 4))
            value = rng.choice(BOUNDARIES) & ((1 << 8 * size) - 1)
            data[at:at + size] = value.to_bytes(size, rng.choice(("little", "big")))
        elif kind == 3:                                 # another link type (pcap header, or an IDB's)
            where = 20 if data[:4] != b"\x0a\x0d\x0d\x0a" else max(0, bytes(data).find(b"\x01\x00\x00\x00", 28) + 8)
            data[where:where + 2] = rng.choice(LINK_TYPES).to_bytes(2, "little")
        elif kind == 4:                                 # a span repeated
            end = min(len(data), at + rng.randint(1, 256))
            data[at:at] = data[at:end]
        else:                                           # a span zeroed
            end = min(len(data), at + rng.randint(1, 64))
            data[at:end] = bytes(end - at)
    return bytes(data)


def _command(argv: list[str]) -> tuple[int | None, str]:
    """main's exit code and stderr, or None and the traceback when an exception escaped it."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            return main(argv), err.getvalue()
    except SystemExit as stop:   # argparse's usage errors
        return stop.code, err.getvalue()
    except BaseException:
        return None, traceback.format_exc()


@contextlib.contextmanager
def core_setting(value: str | None):
    """HANDSHAKE_VIZ_CORE set to value (None: unset) for the block."""
    before = os.environ.pop(CORE_SETTING, None)
    if value is not None:
        os.environ[CORE_SETTING] = value
    try:
        yield
    finally:
        os.environ.pop(CORE_SETTING, None)
        if before is not None:
            os.environ[CORE_SETTING] = before


def json_replay(capture: Path, out: Path, setting: str, *options: str) -> tuple:
    """Exit code, what was printed (the out folder named OUT) and the files written, one way."""
    out.mkdir(parents=True)
    printed, said = io.StringIO(), io.StringIO()
    with core_setting(setting), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(said):
        code = main(["replay", str(capture), "--format", "json", "--out", str(out), *options])
    files = {path.name: path.read_bytes() for path in sorted(out.iterdir())}
    return code, printed.getvalue().replace(str(out), "OUT"), said.getvalue().replace(str(out), "OUT"), files


def records_of(conversation) -> list:
    """The records of a conversation's packets, in capture order."""
    if conversation.protocol in DATAGRAMS:
        records = [d.record for d in conversation.datagrams]
    else:
        records = [s.record for s in conversation.segments] + conversation.icmp_errors
    return sorted(records + conversation.malformed, key=lambda r: r.frame)


def _core_otherwise(capture: Path, folder: Path, number: int) -> bool:
    """The checked core's JSON of the capture, or the records it hands over, differ from the Python
    path's; or, one case in VALGRIND_EVERY, valgrind's memcheck finds an error in it (Rust's
    standard library has unsafe code of its own)."""
    python, core = json_replay(capture, folder / "python", "python"), json_replay(capture, folder / "core", str(CHECKED_CORE))
    if number % VALGRIND_EVERY == 0:
        with capture.open("rb") as source:
            checked = subprocess.run(["valgrind", "--quiet", f"--error-exitcode={MEMCHECK_ERROR}", str(CHECKED_CORE),
                                      str(capture), "out"], stdin=source, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if checked.returncode == MEMCHECK_ERROR:
            return True
    return python != core or _located_otherwise(capture, number)


def _located_otherwise(capture: Path, number: int) -> bool:
    """The core's records of the capture, or of one of its conversations (as a drawing gets them),
    differ from Python's decoding of them."""
    try:
        records = list(CaptureRecords(capture))
    except CaptureFileError:
        return False
    conversations = analyze(records)
    try:
        if CoreRecords(str(CHECKED_CORE), capture, None).records != records or not conversations:
            return bool(conversations)
        chosen = conversations[number % len(conversations)]
        return CoreRecords(str(CHECKED_CORE), capture, chosen.index, frames=True).records != records_of(chosen)
    except HandshakeVizError:   # the core refused what Python read, or failed
        return True


def _unsound_outputs(out: Path, name: str) -> list[str]:
    """What is wrong with the pages written: ill-formed SVG, unsound Mermaid, an explorer page whose data does not read back."""
    problems = []
    for page in out.glob("*.svg"):
        try:
            _svg_texts(page)
        except Exception as error:
            problems.append(f"ill-formed SVG from a mutation of {name}: {error}")
    for page in out.glob("*.mermaid.md"):
        try:
            _mermaid_is_sound(page.read_text())
        except AssertionError as error:
            problems.append(f"unsound Mermaid from a mutation of {name}: {error}")
    for page in out.glob("*.html"):
        try:
            page_data(page)
        except Exception as error:
            problems.append(f"unreadable explorer page from a mutation of {name}: {error}")
    return problems


def one(case: tuple[int, int]) -> list[str]:
    """What went wrong with the case-th mutation (seeded by the run's seed), as sentences."""
    number, seed = case
    rng = random.Random(seed * 1_000_003 + number)
    source = rng.choice(SEEDS)
    data = mutate(source.read_bytes(), rng)
    problems = []
    with tempfile.TemporaryDirectory() as folder:
        capture = Path(folder) / f"fuzz{source.suffix}"
        capture.write_bytes(data)
        out = Path(folder) / "out"
        formats = "svg,png,pdf,dot,mermaid,md,json,html" if number % 20 == 0 else "svg,dot,mermaid,md,json,html"
        runs = [["replay", str(capture), "--out", str(out), "--format", formats, "--force"],
                ["header", str(capture), "--frame", str(rng.randint(1, 3)), "--out", str(out), "--force", "--format", "svg"],
                ["states", str(capture), "--out", str(out), "--force", "--format", "svg"]]
        for argv in runs:
            code, said = _command(argv)
            if code is None:
                problems.append(f"traceback in {argv[0]} of a mutation of {source.name}: {said.strip().splitlines()[-1]}")
            elif code not in DOCUMENTED:
                problems.append(f"undocumented exit {code} from {argv[0]} of a mutation of {source.name}")
        if _core_otherwise(capture, Path(folder), number):
            problems.append(f"the core differs from the Python path (or memcheck found an error in it) "
                            f"on a mutation of {source.name}")
        problems += _unsound_outputs(out, source.name) if out.is_dir() else []
    if problems:
        KEPT.mkdir(exist_ok=True)
        (KEPT / f"{source.stem}-{seed}-{number}{source.suffix}").write_bytes(data)
    return problems


def run(count: int, seed: int = 1) -> int:
    with Pool(2) as pool:
        found = [p for problems in pool.imap_unordered(one, ((n, seed) for n in range(count)), chunksize=8)
                 for p in problems]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    kinds = {kind: sum(p.startswith(kind) for p in found) for kind in
             ("traceback", "undocumented exit", "ill-formed SVG", "unsound Mermaid", "unreadable explorer page",
              "the core differs")}
    print(f"{count:,} mutated captures from {len(SEEDS)} seeds (seed {seed}): "
          + ", ".join(f"{n} {kind}" for kind, n in kinds.items()) + f"; peak memory {peak:.0f} MB per worker")
    for problem in sorted(set(found))[:40]:
        print(f"  {problem}")
    return 1 if found or peak > 150 else 0


if __name__ == "__main__":
    if not CHECKED_CORE.exists():
        sys.exit(f"no checked build of the core at {CHECKED_CORE}: run make fuzz, which builds it")
    sys.exit(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20000, int(sys.argv[2]) if len(sys.argv) > 2 else 1))
