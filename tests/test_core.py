"""Replay's compiled core (replay-core/) against the Python path, which stays the reference: the
same JSON byte for byte, the same table, notes, exit code and error line, on every shared capture,
on generated bench captures and on fuzzed ones; and the same packet records of a conversation it
locates for a drawing."""

import contextlib
import io
import random
import sys
from pathlib import Path

import pytest
from conftest import REPO, require

from handshake_viz.core.analysis import analyze
from handshake_viz.errors import CaptureFileError
from handshake_viz.replay import CaptureRecords, CoreRecords, replay_core

sys.path.insert(0, str(REPO / "checks"))
sys.path.insert(0, str(REPO / "bench"))
import generate  # noqa: E402
from fuzz import core_setting, json_replay, mutate, records_of  # noqa: E402

KEPT = sorted((REPO / "tests" / "fuzz_regressions").glob("*.pcap*"))   # inputs make fuzz once broke on


@pytest.fixture(scope="module")
def core() -> str:
    with core_setting(None):
        found = replay_core()
    require(found is not None, "replay's compiled core is not built: install cargo (sudo apt-get install cargo), "
                               "then make test builds it")
    return found


def _differences(captures, core: str, folder: Path, *options: str) -> list[str]:
    differ = []
    for number, capture in enumerate(captures):
        python = json_replay(capture, folder / f"{number}-python", "python", *options)
        compiled = json_replay(capture, folder / f"{number}-core", core, *options)
        if python != compiled:
            differ.append(f"{capture.name}: exit {python[0]} vs {compiled[0]}")
    return differ


def _captures(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "public").iterdir() if p.suffix in (".pcap", ".pcapng"))


def test_the_core_writes_the_json_of_every_shared_capture_as_the_python_path_does(core, shared_pcaps, shared_pcaps2,
                                                                                 tmp_path):
    captures = _captures(shared_pcaps) + _captures(shared_pcaps2) + KEPT
    assert len(captures) >= 90
    assert _differences(captures, core, tmp_path) == []


def test_the_core_writes_one_conversation_as_the_python_path_does(core, shared_pcaps, tmp_path):
    captures = [shared_pcaps / "public" / name for name in ("smb_many_concurrent_flows.pcap", "tcp_in_ipv4_fragments.pcap",
                                                            "pppoe_dns_icmp_port_unreach.pcap")]
    for index in ("0", "3", "-1", "100000"):
        assert _differences(captures, core, tmp_path / index, "--conversation", index) == []


def test_the_core_writes_generated_bench_captures_as_the_python_path_does(core, tmp_path):
    """1,277 short connections (past 1,000 closed ones, the oldest are handed over as more close),
    and one long conversation (its packets go to the spool as they come, 64 kB at a time). The
    shared captures' UDP flows, handed over only at the end, make later conversations wait on it."""
    many, long = tmp_path / "many.pcap", tmp_path / "long.pcap"
    with contextlib.redirect_stdout(io.StringIO()):
        generate.main(str(many), 60_000)
        generate.main(str(long), 5_000, 1_500)
    assert _differences([many, long], core, tmp_path) == []


def test_the_core_writes_fuzzed_captures_as_the_python_path_does(core, shared_pcaps, tmp_path):
    """checks/fuzz.py's mutations of the small shared captures: corrupt, cut short, crafted."""
    seeds = [p for p in _captures(shared_pcaps) if p.stat().st_size <= 64 * 1024]
    rng = random.Random(17)
    mutated = []
    for number in range(150):
        seed = rng.choice(seeds)
        mutated.append(tmp_path / f"{number}{seed.suffix}")
        mutated[-1].write_bytes(mutate(seed.read_bytes(), rng))
    assert _differences(mutated, core, tmp_path) == []


def test_a_difference_is_caught(core, tmp_path):
    """The check above catches a core that writes one byte otherwise."""
    wrong, capture = tmp_path / "wrong-core", tmp_path / "small.pcap"
    wrong.write_text(f'#!/bin/bash\nset -o pipefail\n"{core}" "$@" | sed s/seq_raw/SEQ_RAW/\n')
    wrong.chmod(0o755)
    with contextlib.redirect_stdout(io.StringIO()):
        generate.main(str(capture), 100)
    assert _differences([capture], core, tmp_path / "right") == []
    assert _differences([capture], str(wrong), tmp_path / "wrong") == ["small.pcap: exit 0 vs 0"]


def test_the_packets_the_core_hands_over_are_those_python_decodes(core, shared_pcaps, shared_pcaps2):
    """Record for record (payload bytes, options and tunnels included): all of every shared
    capture, and those of its first, a middle and its last conversation, as a drawing numbers them."""
    for capture in _captures(shared_pcaps) + _captures(shared_pcaps2):
        try:
            records = list(CaptureRecords(capture))
        except CaptureFileError:   # a capture the reader refuses: the JSON test compares the error
            continue
        assert CoreRecords(core, capture, None).records == records, capture.name
        conversations = analyze(records)
        for conversation in {c.index: c for c in conversations[:1] + conversations[len(conversations) // 2:][:1]
                             + conversations[-1:]}.values():
            located = CoreRecords(core, capture, conversation.index, frames=True)
            assert located.records == records_of(conversation), (capture.name, conversation.index)
            assert {f.frame for f in located.frames} >= {r.frame for r in located.records}, capture.name
