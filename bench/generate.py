"""Write a large capture shaped like Linux loopback TCP traffic, for `make bench`.

Synthesised rather than captured so that it needs no privileges and is the same every time:
16 connections at a time to 127.0.0.1:9000, each a handshake with Linux's SYN options, ten
request/response rounds (100 and 200 bytes, each acknowledged), and a four-segment close; every
segment carries the timestamp option, frames have the zeroed Ethernet header of `lo`.
Usage: python bench/generate.py OUT.pcap [PACKETS [ROUNDS]] (ROUNDS: per connection; many make one long conversation)
"""

import struct
import sys

ETHERNET = b"\x00" * 12 + b"\x08\x00"
LOOPBACK = bytes([127, 0, 0, 1])
SYN_OPTIONS = struct.pack(">BBHBBBBIIBBBB", 2, 4, 65495, 4, 2, 8, 10, 1, 0, 1, 3, 3, 7)
TS_OPTION = struct.pack(">BBBBII", 1, 1, 8, 10, 1, 1)
SERVER_PORT = 9000
ROUNDS = 10
CONCURRENT = 16


def frame(sport, dport, seq, ack, flags, window, options, payload_len):
    tcp_len = 20 + len(options)
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq % 2**32, ack % 2**32, (tcp_len // 4) << 4,
                      flags, window, 0, 0) + options + b"x" * payload_len
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, LOOPBACK, LOOPBACK)
    return ETHERNET + ip + tcp


def connection(port: int, c_isn: int, s_isn: int, rounds: int = ROUNDS):
    """The frames of one connection, in order."""
    c, s = c_isn, s_isn
    yield frame(port, SERVER_PORT, c, 0, 0x02, 65495, SYN_OPTIONS, 0)
    yield frame(SERVER_PORT, port, s, c + 1, 0x12, 65483, SYN_OPTIONS, 0)
    c, s = c + 1, s + 1
    yield frame(port, SERVER_PORT, c, s, 0x10, 512, TS_OPTION, 0)
    for _ in range(rounds):
        yield frame(port, SERVER_PORT, c, s, 0x18, 512, TS_OPTION, 100)
        c += 100
        yield frame(SERVER_PORT, port, s, c, 0x10, 512, TS_OPTION, 0)
        yield frame(SERVER_PORT, port, s, c, 0x18, 512, TS_OPTION, 200)
        s += 200
        yield frame(port, SERVER_PORT, c, s, 0x10, 512, TS_OPTION, 0)
    yield frame(port, SERVER_PORT, c, s, 0x11, 512, TS_OPTION, 0)
    yield frame(SERVER_PORT, port, s, c + 1, 0x10, 512, TS_OPTION, 0)
    yield frame(SERVER_PORT, port, s, c + 1, 0x11, 512, TS_OPTION, 0)
    yield frame(port, SERVER_PORT, c + 1, s + 1, 0x10, 512, TS_OPTION, 0)


def main(path: str, packets: int, rounds: int = ROUNDS) -> None:
    per_connection = 3 + 4 * rounds + 4
    connections = -(-packets // per_connection)
    written, micros = 0, 1_795_000_000 * 1_000_000
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for first in range(0, connections, CONCURRENT):
            group = [connection(32768 + (n % 28000), n * 7_919_993, n * 104_729 + 5, rounds)
                     for n in range(first, min(first + CONCURRENT, connections))]
            live = list(group)
            while live and written < packets:
                for generator in list(live):
                    data = next(generator, None)
                    if data is None:
                        live.remove(generator)
                        continue
                    micros += 7
                    f.write(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(data), len(data)))
                    f.write(data)
                    written += 1
                    if written == packets:
                        break
    print(f"wrote {written:,} packets in {connections:,} connections to {path}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000, int(sys.argv[3]) if len(sys.argv) > 3 else ROUNDS)
