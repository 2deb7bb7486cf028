from handshake_viz.wire.seqnum import MODULUS, relative, seq_add, seq_ge, seq_gt, seq_le, seq_lt


def test_adding_past_the_top_wraps_to_zero():
    assert seq_add(MODULUS - 2, 5) == 3


def test_a_number_just_after_the_wrap_is_greater_than_one_before_it():
    before, after = MODULUS - 10, 5
    assert seq_gt(after, before) and seq_lt(before, after)
    assert relative(after, before) == 15


def test_comparison_takes_the_shorter_way_round():
    assert seq_lt(0, 2**31 - 1)
    assert seq_gt(0, 2**31 + 1)  # more than half way round is behind


def test_equal_numbers_are_both_le_and_ge():
    assert seq_le(7, 7) and seq_ge(7, 7) and not seq_lt(7, 7)


def test_relative_numbers_count_from_the_base_across_the_wrap():
    base = MODULUS - 3
    assert relative(base, base) == 0
    assert relative(2, base) == 5
