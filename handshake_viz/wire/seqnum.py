"""32-bit TCP sequence-number arithmetic (RFC 9293 section 3.4): every wrap-around lives here."""

MODULUS = 1 << 32
_HALF = 1 << 31


def seq_add(value: int, amount: int) -> int:
    return (value + amount) % MODULUS


# a is before b when going from b to a is the longer way round the 32-bit circle (over half of it).
def seq_lt(a: int, b: int) -> bool:
    return (a - b) % MODULUS >= _HALF


def seq_le(a: int, b: int) -> bool:
    distance = (a - b) % MODULUS
    return distance == 0 or distance >= _HALF


def seq_gt(a: int, b: int) -> bool:
    return 0 < (a - b) % MODULUS < _HALF


def seq_ge(a: int, b: int) -> bool:
    return (a - b) % MODULUS < _HALF


def relative(value: int, base: int) -> int:
    """value counted from base, as tshark's relative sequence numbers are."""
    return (value - base) % MODULUS
