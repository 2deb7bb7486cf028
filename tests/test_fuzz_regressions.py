"""Every input `make fuzz` ever found a problem with (tests/fuzz_regressions/), run again the same
way: no traceback, a documented exit code, well-formed SVG and Mermaid."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "checks"))
from fuzz import DOCUMENTED, _command  # noqa: E402

KEPT = sorted((Path(__file__).parent / "fuzz_regressions").glob("*.pcap*"))


def _handled(capture: Path, out: Path) -> None:
    for argv in (["replay", str(capture), "--out", str(out), "--format", "svg,png,pdf,dot,mermaid,md,json,html"],
                 ["header", str(capture), "--frame", "1", "--out", str(out), "--force"],
                 ["states", str(capture), "--out", str(out), "--force"]):
        code, said = _command(argv)
        assert code in DOCUMENTED, said


if KEPT:   # none until make fuzz finds a problem; then each stays a test
    @pytest.mark.parametrize("capture", KEPT, ids=lambda p: p.name)
    def test_a_capture_the_fuzzer_once_broke_on_is_handled(tmp_path, capture):
        _handled(capture, tmp_path)
