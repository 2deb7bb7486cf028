"""Hand-built segment scripts for analyzer and diagram tests."""

from handshake_viz.wire.records import PacketRecord, TcpOptions

CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 80)
_FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}


class Script:
    """Segments in capture order: `script.client("S", seq=100)`, `script.server("SA", ...)`."""

    def __init__(self, client=CLIENT, server=SERVER, step: float = 0.001):
        self.ends = {"client": client, "server": server}
        self.records: list[PacketRecord] = []
        self.step = step
        self.time = 1_000.0

    def send(self, side, flags, seq, ack=0, length=0, window=1000, options=None, payload=None):
        source = self.ends[side]
        target = self.ends["server" if side == "client" else "client"]
        self.time += self.step
        bits = sum(_FLAG_BITS[f] for f in flags)
        record = PacketRecord(len(self.records) + 1, self.time, source[0], target[0], source[1], target[1],
                              "tcp", bits, seq % 2**32, ack % 2**32, window, options, length,
                              payload if payload is not None else b"x" * min(length, 24))
        self.records.append(record)
        return record

    def client(self, flags, seq, ack=0, **kwargs):
        return self.send("client", flags, seq, ack, **kwargs)

    def server(self, flags, seq, ack=0, **kwargs):
        return self.send("server", flags, seq, ack, **kwargs)


def handshake(script: Script, c_isn: int, s_isn: int, scale: int | None = None) -> None:
    options = TcpOptions(mss=1460, window_scale=scale) if scale is not None else None
    script.client("S", c_isn, options=options)
    script.server("SA", s_isn, c_isn + 1, options=options)
    script.client("A", c_isn + 1, s_isn + 1)


def echo(client_closes_first: bool = True, c_isn: int = 1000, s_isn: int = 5000) -> Script:
    """The echo scenario by hand: 5 bytes each way, then a four-segment close."""
    s = Script()
    handshake(s, c_isn, s_isn)
    c, v = c_isn + 1, s_isn + 1
    s.client("PA", c, v, length=5)
    s.server("A", v, c + 5)
    s.server("PA", v, c + 5, length=5)
    s.client("A", c + 5, v + 5)
    first, second = ("client", "server") if client_closes_first else ("server", "client")
    seqs = {"client": c + 5, "server": v + 5}
    s.send(first, "FA", seqs[first], seqs[second])
    s.send(second, "A", seqs[second], seqs[first] + 1)
    s.send(second, "FA", seqs[second], seqs[first] + 1)
    s.send(first, "A", seqs[first] + 1, seqs[second] + 1)
    return s
