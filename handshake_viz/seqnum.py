"""32-bit TCP sequence-number arithmetic (RFC 9293 section 3.4): every wrap-around lives here."""

MODULUS = 1 << 32
_HALF = 1 << 31


def seq_add(value: int, amount: int) -> int:
    return (value + amount) % MODULUS


def seq_diff(a: int, b: int) -> int:
    """The signed distance from b to a, taking the shorter way round the 32-bit circle."""
    distance = (a - b) % MODULUS
    return distance - MODULUS if distance >= _HALF else distance


def seq_lt(a: int, b: int) -> bool:
    return seq_diff(a, b) < 0


def seq_le(a: int, b: int) -> bool:
    return seq_diff(a, b) <= 0


def seq_gt(a: int, b: int) -> bool:
    return seq_diff(a, b) > 0


def seq_ge(a: int, b: int) -> bool:
    return seq_diff(a, b) >= 0


def relative(value: int, base: int) -> int:
    """value counted from base, as tshark's relative sequence numbers are."""
    return (value - base) % MODULUS
