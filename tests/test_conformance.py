"""Our reading of real public captures against tshark's (../shared/pcaps; in CI, always)."""

import pytest

from conftest import SHARED
from tshark_oracle import compare, readable_captures

PCAPS = SHARED / "pcaps"
CAPTURES = [p.name for p in readable_captures(PCAPS)] if (PCAPS / "oracle").is_dir() else ["(absent)"]


@pytest.mark.parametrize("name", CAPTURES)
def test_every_packet_agrees_with_tshark(shared_pcaps, name):
    compared, differences = compare(shared_pcaps / "public" / name, shared_pcaps / "oracle" / f"{name}.tsv")
    assert not differences, f"{len(differences)} differences in {compared} packets, first: {differences[:5]}"


def test_the_whole_corpus_is_compared(shared_pcaps):
    assert len(CAPTURES) == 35  # the 34 readable captures and the one cut short
