"""Datagrams that reach many: broadcast, and multicast to the members of a group. Loopback
carries neither (no broadcast address of its own use, no IPv6 multicast), so these run on a link
of their own namespace (LINK), where the capture sees what leaves on it, the group membership
reports (IGMP, MLD) with the datagrams."""

import select
import socket
import struct
import threading
import time
from pathlib import Path

from handshake_viz.errors import ScenarioError
from handshake_viz.scenarios import LINK, LINK_BROADCAST, LINK_HOSTS, SOCKET_TIMEOUT, Session, Traffic, expect, scenario
from handshake_viz.scenarios.checks import calls_named, need, outcome, udp_conversations
from handshake_viz.wire import groups
from handshake_viz.wire.records import CLIENT, PORTLESS, SERVER

GREETING = b"hello, all"
RECEIVERS = 2


def _datagrams(run) -> list:
    return [d for c in udp_conversations(run) for d in c.datagrams if not d.record.icmp]


def _broadcast_check(run):
    problems: list[str] = []
    sent = _datagrams(run)
    need(problems, [(d.record.dst, d.record.payload_len) for d in sent] == [(LINK_BROADCAST, len(GREETING))],
         f"on the wire: {[(d.record.dst, d.record.payload_len) for d in sent]}, expected one {len(GREETING)}-byte "
         f"datagram to {LINK_BROADCAST}")
    problems += outcome(run, "sendto", CLIENT, "-1 EACCES") + outcome(run, "sendto", CLIENT, str(len(GREETING)), 1)
    reads = [c.result.split()[0] for c in calls_named(run, "recvfrom", SERVER)]
    need(problems, reads == [str(len(GREETING))] * RECEIVERS,
         f"the receivers' reads returned {reads}: each of the {RECEIVERS} should get the one datagram")
    return problems


def _receiver(session: Session, port: int, family: int, before_bind=None, bound: threading.Barrier | None = None):
    """A UDP socket bound to port on every address (SO_REUSEADDR: several may), once bound
    waiting at bound for the others."""
    sock = session.call(SERVER, "socket", "SOCK_DGRAM", socket.socket, family, socket.SOCK_DGRAM)
    session.setsockopt(SERVER, sock, socket.SOL_SOCKET, socket.SO_REUSEADDR, 1, "SO_REUSEADDR, 1")
    if before_bind:
        before_bind(sock)
    anywhere = "::" if family == socket.AF_INET6 else "0.0.0.0"
    session.bind(SERVER, sock, (anywhere, port))
    if bound is not None:
        bound.wait()
    return sock


@scenario("broadcast", f"two receivers bind the same UDP port on every address (SO_REUSEADDR); the sender's "
                       f"sendto() to the link's broadcast address {LINK_BROADCAST} fails with EACCES until it sets "
                       "SO_BROADCAST, then one datagram leaves on the link and each receiver gets its own copy",
          _broadcast_check, on_link=True, setup=lambda port: (), traffic=Traffic(connections=0, datagrams=1),
          ipv4_only="IPv6 has no broadcast (it sends to a group instead: see multicast)")
def _broadcast(session: Session) -> None:
    bound = threading.Barrier(RECEIVERS + 1, timeout=SOCKET_TIMEOUT)

    def receiver():
        sock = _receiver(session, session.port, socket.AF_INET, bound=bound)
        session.recvfrom(SERVER, sock)
        session.close(SERVER, sock)

    def sender():
        bound.wait()
        sock = session.new_socket(CLIENT, socket.SOCK_DGRAM)
        to = (LINK_BROADCAST, session.port)
        session.fails(PermissionError, CLIENT, "sendto", f"{len(GREETING)} bytes, {LINK_BROADCAST}:{session.port}",
                      sock.sendto, GREETING, to, sock=sock)
        session.setsockopt(CLIENT, sock, socket.SOL_SOCKET, socket.SO_BROADCAST, 1, "SO_BROADCAST, 1")
        session.sendto(CLIENT, sock, GREETING, to)
        session.close(CLIENT, sock)

    session.run_sides(*(receiver for _ in range(RECEIVERS)), sender)


GROUPS = {"ipv4": "239.1.2.3", "ipv6": "ff12::1234"}   # administratively scoped; transient, link-local
# The capture keeps the membership reports about the group only (a new link's host also reports
# the groups of its own addresses): the first group record's address, IGMPv3 (after its 8-byte
# header) and MLDv2 (after a hop-by-hop header of 8 bytes and the report's own 8).
REPORTS = ("(igmp and igmp[12:4] = 0xef010203) or (ip6[6] = 0 and ip6[48] = 143 and ip6[60:4] = 0xff120000"
           " and ip6[64:4] = 0 and ip6[68:4] = 0 and ip6[72:4] = 0x1234)")
IP_MULTICAST_ALL, IPV6_MULTICAST_ALL = 49, 29
QUIET = 0.2   # how long the other socket waits for a datagram that must not come


def _reports(run) -> list[tuple[float, str]]:
    return [(d.record.time, groups.describe(d.record.protocol, d.record.payload) or "")
            for c in run.conversations if c.protocol in PORTLESS for d in c.datagrams]


def _multicast_check(run):
    problems: list[str] = []
    sent = _datagrams(run)
    group = sent[0].record.dst if sent else None
    need(problems, len(sent) == 1 and group in GROUPS.values(), f"on the wire: {[d.record.dst for d in sent]}, "
         "expected one datagram to the group")
    if len(sent) != 1:
        return problems
    reports = _reports(run)
    joined = [t for t, said in reports if f"join {group}" in said]
    left = [t for t, said in reports if f"leave {group}" in said]
    need(problems, bool(joined) and joined[0] < sent[0].record.time,
         f"no report joined {group} before the datagram (reports: {[said for _, said in reports]})")
    need(problems, bool(left) and left[0] > sent[0].record.time, f"no report left {group} after the datagram")
    reads = [c.outcome.split()[0] for c in calls_named(run, "recvfrom", SERVER)]
    need(problems, reads == [str(len(GREETING))], f"the member's reads returned {reads}")
    return problems + outcome(run, "poll", SERVER, "0")


def _join(session: Session, sock: socket.socket, family: int, leave: bool = False) -> None:
    group = GROUPS["ipv6" if family == socket.AF_INET6 else "ipv4"]
    if family == socket.AF_INET6:
        request = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", socket.if_nametoindex(LINK))
        option, name = ((socket.IPV6_LEAVE_GROUP, "IPV6_LEAVE_GROUP") if leave
                        else (socket.IPV6_JOIN_GROUP, "IPV6_JOIN_GROUP"))
        session.setsockopt(SERVER, sock, socket.IPPROTO_IPV6, option, request, f"{name}, {group} on {LINK}")
    else:
        request = socket.inet_aton(group) + socket.inet_aton(LINK_HOSTS["ipv4"])
        option, name = ((socket.IP_DROP_MEMBERSHIP, "IP_DROP_MEMBERSHIP") if leave
                        else (socket.IP_ADD_MEMBERSHIP, "IP_ADD_MEMBERSHIP"))
        session.setsockopt(SERVER, sock, socket.IPPROTO_IP, option, request, f"{name}, {group} on {LINK_HOSTS['ipv4']}")


def _reports_sent(v6: bool) -> int:
    """How many membership reports this namespace's kernel has sent, from its own counters: MLDv2
    reports, or (no IGMP counter exists) IPv4 multicast packets, of which the scenario's own
    datagram comes only later."""
    if v6:
        return _counter("/proc/net/snmp6", "Icmp6OutMLDv2Reports")
    return _counter("/proc/net/netstat", "OutMcastPkts")


def _counter(path: str, name: str) -> int:
    lines = Path(path).read_text().splitlines()
    if path.endswith("snmp6"):
        return next(int(line.split()[1]) for line in lines if line.split()[:1] == [name])
    for header, values in zip(lines[::2], lines[1::2]):   # /proc/net/netstat: a line of names, a line of values
        names = header.split()
        if name in names:
            return int(values.split()[names.index(name)])
    raise ScenarioError(f"the kernel counts no {name} here")


def _await_report(v6: bool, before: int) -> None:
    """Until the kernel has sent the report of the join (it waits up to a tick first), read from
    its counters, which are no socket call of the program."""
    deadline = time.monotonic() + SOCKET_TIMEOUT
    while _reports_sent(v6) <= before:
        expect(time.monotonic() < deadline, "the kernel never sent its membership report")
        time.sleep(0.001)


def _nothing_arrives(sock: socket.socket) -> str:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return str(len(poller.poll(QUIET * 1000)))


@scenario("multicast", "a member socket joins a group (IP_ADD_MEMBERSHIP: an IGMP report on the link; MLD over "
                       "IPv6); another socket on the same port does not join and sets IP_MULTICAST_ALL to 0 (else "
                       "Linux hands it the group's datagrams anyway, once any socket on the host joined); one "
                       "datagram to the group reaches the member only; the member leaves (another report)",
          _multicast_check, on_link=True, setup=lambda port: (), capture_also=REPORTS,
          traffic=Traffic(connections=0, datagrams=1, reports=2))
def _multicast(session: Session) -> None:
    family = session.family
    ready, sent, member_done = threading.Barrier(3, timeout=SOCKET_TIMEOUT), threading.Event(), threading.Event()
    v6 = family == socket.AF_INET6
    everything = (socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, "IPV6_MULTICAST_ALL") if v6 else (
        socket.IPPROTO_IP, IP_MULTICAST_ALL, "IP_MULTICAST_ALL")

    def member():
        sock = _receiver(session, session.port, family)
        before = _reports_sent(v6)
        _join(session, sock, family)
        _await_report(v6, before)   # its report on the link before the datagram: drawn in that order
        ready.wait()
        session.recvfrom(SERVER, sock)
        member_done.set()
        _join(session, sock, family, leave=True)
        session.close(SERVER, sock)

    def other():
        def only_joined(sock):
            session.setsockopt(SERVER, sock, everything[0], everything[1], 0, f"{everything[2]}, 0")
        sock = _receiver(session, session.port, family, only_joined)
        ready.wait()
        expect(sent.wait(SOCKET_TIMEOUT), "the sender never sent")
        session.call(SERVER, "poll", f"POLLIN, {QUIET * 1000:.0f} ms", _nothing_arrives, sock, sock=sock)
        expect(member_done.wait(SOCKET_TIMEOUT), "the member never read")
        session.close(SERVER, sock)

    def sender():
        ready.wait()
        sock = session.new_socket(CLIENT, socket.SOCK_DGRAM)
        if v6:
            session.setsockopt(CLIENT, sock, socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(LINK),
                               f"IPV6_MULTICAST_IF, {LINK}")
        else:
            session.setsockopt(CLIENT, sock, socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(session.host),
                               f"IP_MULTICAST_IF, {session.host}")
        session.sendto(CLIENT, sock, GREETING, (GROUPS["ipv6" if v6 else "ipv4"], session.port))
        sent.set()
        session.close(CLIENT, sock)

    session.run_sides(member, other, sender)
