"""The words of the diagrams and reports, in English and Korean (`--lang ko`).

State names (ESTABLISHED...), flags (SYN, ACK) and numbers stay as they are in every language:
they are what the RFCs, the kernel and Wireshark print, and what notes quote.
"""

import re

LANGUAGES = ("en", "ko")

_EN = {
    "phase.handshake": "3-way handshake",
    "phase.data": "data transfer",
    "phase.teardown": "teardown",
    "phase.refused": "connection refused",
    "phase.idle": "idle",
    "phase.idle_keepalive": "idle, keep-alive probes",
    "time_wait.kernel": "TIME_WAIT: seen by the kernel,\n{left:.0f} s left of Linux's fixed {msl} s",
    "time_wait.inferred": "TIME_WAIT: {msl} s on Linux\n(inferred, not on the wire)",
    "addresses": "Addresses in full: {addresses}.",
    "fold": "… {count:,} ordinary packets folded (frames {first}–{last}): {size} of data in {duration} …",
    "sent_again": "sent again: the same bytes as #{frame}",
    "sent_again.syn": "its SYN sent again: the same sequence number as #{frame}",
    "acked_by": "acknowledged by #{frame}",
    "kernel.retransmitted": "the kernel's own retransmission (tcp_retransmit_skb)",
    "unix.bytes": "{size:,} bytes copied by the kernel",
    "unix.bytes.joined": "{size:,} bytes copied by the kernel, from {sends} sends:\na stream keeps no boundaries",
    "unix.datagram": "a {size:,}-byte datagram, copied whole",
    "unix.cut": "a {size:,}-byte datagram; {read:,} bytes read, the rest discarded",
    "sample.buffers": "buffers: receive {receive:,} B, send {send:,} B",
    "sample.queues": "Recv-Q {receive:,} B, Send-Q {send:,} B",
    "sample.rto": "RTO {rto:.0f} ms, backoff {backoff}",
    "legend.samples": "Teal: each side's socket as the kernel reported it (sock_diag, as `ss -tmi` shows it), sampled"
                      " about every millisecond and shown at the packet that changed it: its buffer sizes (what the"
                      " kernel made of SO_RCVBUF and SO_SNDBUF), Recv-Q (bytes received, not yet read), Send-Q (bytes"
                      " written, not yet acknowledged), and its retransmission timeout (RTO) with how often it doubled.",
    "kernel.syn_again": "the receiver already had this SYN: it dropped the repeat, not the ACK (the kernel's TCP_OLD_DATA)",
    "call.returns": "{name} returns {outcome}",
    "call.end_of_stream": "{outcome} (end of stream)",
    "kernel.reset": "kernel's reason: {reason}",
    "kernel.dropped": "dropped: {reason}",
    "malformed": "malformed: {what}; not analysed, as tshark",
    "legend.tunnel": "Inside a tunnel: {tunnel}; the outer headers are not drawn.",
    "legend.tunnels": "Inside tunnels: {tunnel}; the outer headers are not drawn.",
    "legend.tunnels_more": "{count} more (all in the JSON)",
    "kernel.discarded": "discarded by the receiver: {reason}",
    "legend.crossing.syns": "Crossing SYNs: each is drawn from where its side's kernel sent it (its SYN_SENT, traced) to"
                            " where the capture saw it arrive; each side was connecting when the other's SYN arrived,"
                            " so each answers with a SYN+ACK that repeats its own SYN.",
    "legend.crossing.fins": "Crossing FINs: each is drawn from where its side's kernel sent it (its FIN_WAIT_1, traced) to"
                       " where the capture saw it arrive; neither acknowledges the other, as each left before the"
                       " other arrived.",
    # The reasons tcp:tcp_send_reset gives (enum sk_rst_reason), in words.
    "kernel.only": "kernel: {said}\n(not seen in the packets)",
    "kernel.missing": "{inferred}\n(inferred; not in the kernel's record)",
    "kernel.differs": "kernel: {said}\n(packets imply {inferred})",
    "kernel.went": "the kernel's {side} went {kernel}; the packets imply {inferred}",
    "kernel.no_socket": "the kernel has no socket for the {side}",
    "ack.explained": "ack {ack} = {seq} + {space}: acknowledges {what} {frames}",
    "what.SYN": "SYN", "what.FIN": "FIN", "what.data": "data",
    "legend.calls": "Green: the socket calls each side made, where they happened; a call that waits for the peer"
                    " (connect, accept, recv) and saw packets pass is drawn where it was called (…) and where it returned.",
    "legend.calls.traced": "Green: the system calls each side's processes made, as the kernel traced them (its syscall"
                           " tracepoints), with each one's fd (and pid, where several processes hold the socket): glibc's"
                           " send() and recv() are the sendto and recvfrom system calls. An address a call had in memory"
                           " (bind, connect, accept, a datagram's) is its socket's end as the kernel's socket events and"
                           " the packets give it; poll and select are drawn on the socket their thread used next. A call"
                           " that waited while packets passed is drawn where it was called (…) and where it returned; a"
                           " send counts as waiting (for room in its buffer, which the peer's ACKs make) when it ran over"
                           " a millisecond while the peer's packets came.",
    "legend.calls.lost": "The kernel's trace buffer lost {count} events: calls are missing from this diagram.",
    "legend.states.lost": "The kernel's trace buffer lost {count} events of its states during the run: where the"
                          " kernel's states differ from the packets', that may be why.",
    "legend.unix": "No packets: an AF_UNIX socket puts nothing on a wire; the kernel copies what one socket writes"
                   " straight into the other's receive queue, so there is nothing to capture, and each call shows the"
                   " bytes it moved.",
    "legend.rows": "One arrow per packet, in capture order; its slant shows direction, not delay; the margin gives the"
                   " frame number and the time since the start.",
    "legend.loopback": "On loopback a packet is sent and received in the same instant.",
    "legend.states.inferred": "States (RFC 9293 names) are inferred from the packets (no kernel record).",
    "legend.states.kernel": "States (RFC 9293 names) are the kernel's, traced (sock:inet_sock_set_state) during the run;"
                            " they agree with what the packets imply.",
    "legend.states.moved": "States (RFC 9293 names) are the kernel's, traced (sock:inet_sock_set_state) during the run,"
                           " each drawn where the kernel entered it; the same states as the packets imply, but {moved}.",
    "kernel.moved": "the {side} entered {state} at {when}, not at #{frame}",
    "legend.states.differ": "States (RFC 9293 names) are the kernel's, traced during the run; red marks where they differ"
                            " from what the packets imply: {differences}.",
    "legend.membership": "A host's multicast group membership messages (IGMP over IPv4, MLD over IPv6): it tells the"
                         " link's multicast routers (224.0.0.22, ff02::16) which groups it now wants; joining a group is"
                         " a report of EXCLUDE {{}} (every source), leaving it INCLUDE {{}} (none). Each arrow is one message;"
                         " the kernel sends them, not the program, and may repeat each.",
    "legend.udp": "UDP: each arrow is one datagram and len its payload in bytes. There is no handshake, no ACK and no"
                  " teardown: nothing on the wire says whether a datagram arrived, and each keeps its own boundaries.",
    "legend.icmp": "Red: an ICMP error about a datagram (port unreachable: nothing listens on that port).",
    "legend.seq": "seq and ack are relative to each side's initial sequence number (ISN), as tshark shows them{isns}.",
    "legend.isns": "; ISNs on the wire: {isns}",
    "legend.numbers": "seq a:b (n) = n payload bytes, a up to b;  win = receive window in bytes, after window scaling;"
                      "  an ACK acknowledges everything before its number: ack = seq + length of what it covers.",
    "legend.colours": "Black: SYN and FIN, blue: data, grey: bare ACK, red: RST or ICMP error. {states}",
    "legend.marks": "[marks] are tshark's analysis of a segment; a copy of unacknowledged bytes sent within one round"
                    " trip is what tshark calls out of order, so such a segment also says it was sent again.",
    "legend.time_wait": "TIME_WAIT is never on the wire: the side that closed first waits after the last ACK, {msl} s on"
                        " Linux, a fixed time (RFC 9293 asks for 2 x MSL, 4 minutes with its 2-minute MSL); {how}",
    "legend.time_wait.kernel": "the kernel's TIME_WAIT table showed it right after the teardown (the traced socket itself"
                               " goes FIN_WAIT_2 -> CLOSE: a separate mini-socket holds TIME_WAIT).",
    "legend.time_wait.inferred": "it is inferred here.",
    "legend.zero_window_probe": "[zero window probe] on an empty segment one byte back is ours, not tshark's: Linux probes"
                                " a zero window that way, and tshark calls such a segment only a keep-alive.",
    "report.happened": "What happened",
    "report.packets": "Packets",
    "report.calls": "Socket calls",
    "report.calls.header": "| time (ms) | side | call | result |",
    "report.calls.header.traced": "| time (ms) | side | pid | call | result |",
    "report.tcp.header": "| frame | time (ms) | from | flags | seq (raw) | ack (raw) | len | window | marks |",
    "report.udp.header": "| frame | time (ms) | from | len | note |",
    "report.refused.title": "Connection refused",
    "report.refused": "The client's SYN (frame {frame}) was answered by RST+ACK: nothing listened on port {port}, so"
                      " the kernel refused the connection and connect() failed with ECONNREFUSED.",
    "report.handshake": "The client opens with a SYN carrying its initial sequence number {isn} (shown as 0). The"
                        " server answers SYN+ACK with its own ISN {server_isn} and ACK {ack} = {seq} + 1: the SYN"
                        " counts as one byte. The client's ACK {final} (frame {frame}) completes the handshake, and"
                        " both sides are ESTABLISHED.",
    "report.data": "The client sends {client} bytes and the server {server} bytes in {segments} segments. The first,"
                   " frame {frame}, carries {length} bytes numbered {first} to {last}",
    "report.data.acked": "; the {side} acknowledges them in frame {ack_frame} with ACK {ack} = SEQ {seq} + {length},"
                         " the next byte it expects.",
    "report.data.resent": " {count} segment(s) were sent again (frame {frame} repeats the bytes of frame {original}).",
    "report.reset": "The {side} ends the connection with a RST (frame {frame}) instead of a FIN: no goodbye, no"
                    " TIME_WAIT, and the peer's next call fails.",
    "report.no_fin": "The capture ends before either side closes.",
    "report.fin": "The {side} closes first: its FIN (frame {frame}, SEQ {seq})",
    "report.fin.acked": " is acknowledged with ACK {ack} = {seq} + 1, since a FIN also counts as one byte",
    "report.fin.acked.data": " carries {length} bytes of data and is acknowledged with ACK {ack} = {seq} + {length} + 1:"
                             " the data, and the FIN, which counts as one byte",
    "report.simultaneous": " The other FIN left before this one arrived: a simultaneous close, both sides pass"
                           " through CLOSING.",
    "report.second_fin": " The {side} then sends its own FIN (frame {frame}){together}",
    "report.second_fin.together": ", on the same segment as its ACK: a three-segment close.",
    "report.time_wait": " The {sides}, having closed first, waits in TIME_WAIT for {msl} s (Linux's fixed time; RFC 9293"
                        " asks for 2 x MSL, 4 minutes), which is never seen on the wire.",
    "report.udp": "{count} datagram(s), {lengths} bytes: no handshake, no acknowledgement, no teardown. Each datagram"
                  " is delivered whole or not at all, and keeps its boundaries.",
    "report.icmp": " Frame {frame} is an ICMP {kind} from {reporter}: the datagram reached a host where nothing"
                   " listens on port {port}.",
    "side.client": "client", "side.server": "server", "side.both": "client and server",
    "side.sender": "sender", "side.group": "group address",
}

_KO = {
    "phase.handshake": "3-way 핸드셰이크",
    "phase.data": "데이터 전송",
    "phase.teardown": "연결 종료",
    "phase.refused": "연결 거부",
    "phase.idle": "유휴",
    "phase.idle_keepalive": "유휴, keep-alive 프로브",
    "time_wait.kernel": "TIME_WAIT: 커널에서 확인,\n리눅스의 고정 {msl}초 중 {left:.0f}초 남음",
    "time_wait.inferred": "TIME_WAIT: 리눅스에서 {msl}초\n(추정, 패킷에는 보이지 않음)",
    "addresses": "전체 주소: {addresses}.",
    "fold": "… 평범한 패킷 {count:,}개 접음 (프레임 {first}–{last}): {duration} 동안 데이터 {size} …",
    "sent_again": "재전송: #{frame}과(와) 같은 바이트",
    "sent_again.syn": "SYN 재전송: #{frame}과(와) 같은 순서 번호",
    "acked_by": "#{frame}이(가) 확인 응답함",
    "kernel.retransmitted": "커널이 직접 기록한 재전송 (tcp_retransmit_skb)",
    "unix.bytes": "커널이 복사한 {size:,}바이트",
    "unix.bytes.joined": "커널이 복사한 {size:,}바이트, send {sends}번에서:\n스트림은 경계를 지키지 않는다",
    "unix.datagram": "{size:,}바이트 데이터그램, 통째로 복사됨",
    "unix.cut": "{size:,}바이트 데이터그램: {read:,}바이트만 읽고 나머지는 버려짐",
    "sample.buffers": "버퍼: 수신 {receive:,} B, 송신 {send:,} B",
    "sample.queues": "Recv-Q {receive:,} B, Send-Q {send:,} B",
    "sample.rto": "RTO {rto:.0f} ms, 백오프 {backoff}",
    "legend.samples": "청록색: 커널이 알려 준 각 쪽 소켓의 상태 (sock_diag, `ss -tmi`가 보여 주는 것). 약 1밀리초마다 읽어"
                      " 그것을 바꾼 패킷에 표시합니다: 버퍼 크기 (커널이 SO_RCVBUF와 SO_SNDBUF로 정한 크기), Recv-Q (받았지만"
                      " 아직 읽지 않은 바이트), Send-Q (썼지만 아직 확인 응답되지 않은 바이트), 재전송 타임아웃(RTO)과 그"
                      " 두 배 증가 횟수.",
    "kernel.syn_again": "받는 쪽은 이 SYN을 이미 받았다: 반복된 부분만 버리고 ACK는 받아들인다 (커널의 TCP_OLD_DATA)",
    "call.returns": "{name} 반환 {outcome}",
    "call.end_of_stream": "{outcome} (스트림 끝)",
    "kernel.reset": "커널이 밝힌 리셋 이유: {reason}",
    "kernel.dropped": "버려짐: {reason}",
    "malformed": "잘못된 형식: {what}. tshark처럼 분석에서 뺐습니다",
    "legend.tunnel": "터널 안의 패킷입니다: {tunnel}. 바깥 헤더는 그리지 않았습니다.",
    "legend.tunnels": "터널 안의 패킷입니다: {tunnel}. 바깥 헤더는 그리지 않았습니다.",
    "legend.tunnels_more": "그 밖에 {count}개 (모두 JSON에 있음)",
    "kernel.discarded": "받는 쪽이 살펴본 뒤 버림: {reason}",
    "legend.crossing.syns": "엇갈린 SYN: 각 SYN은 그쪽 커널이 보낸 자리(기록된 SYN_SENT)에서 캡처가 도착을 본 자리까지"
                            " 그렸습니다. 상대의 SYN이 도착했을 때 양쪽 모두 연결 중이었으므로, 각자 자기 SYN을 반복하는"
                            " SYN+ACK로 답합니다.",
    "legend.crossing.fins": "엇갈린 FIN: 각 FIN은 그쪽 커널이 보낸 자리(기록된 FIN_WAIT_1)에서 캡처가 도착을 본 자리까지"
                       " 그렸습니다. 서로 상대가 도착하기 전에 떠났기 때문에 어느 쪽도 상대를 확인 응답하지 않습니다.",
    "kernel.only": "커널: {said}\n(패킷에는 보이지 않음)",
    "kernel.missing": "{inferred}\n(추정; 커널 기록에 없음)",
    "kernel.differs": "커널: {said}\n(패킷으로 본 상태 {inferred})",
    "kernel.went": "커널의 {side}: {kernel}, 패킷으로 본 상태: {inferred}",
    "kernel.no_socket": "커널에 {side} 소켓이 없음",
    "ack.explained": "ack {ack} = {seq} + {space}: {what} {frames} 확인 응답",
    "what.SYN": "SYN", "what.FIN": "FIN", "what.data": "데이터",
    "legend.calls": "초록색: 각 쪽이 호출한 소켓 함수와 그 시점. 상대를 기다리는 호출(connect, accept, recv)이 기다리는 동안"
                    " 패킷이 오갔다면, 호출한 곳(…)과 반환한 곳에 두 번 그립니다.",
    "legend.calls.traced": "초록색: 각 쪽 프로세스가 한 시스템 호출을 커널이 추적한 그대로(syscall 트레이스포인트) 그 fd와 함께"
                           " 그립니다(여러 프로세스가 소켓을 가지면 pid도). glibc의 send()와 recv()는 시스템 호출 sendto와"
                           " recvfrom입니다. 호출이 메모리에 가졌던 주소(bind, connect, accept, 데이터그램)는 커널의 소켓"
                           " 이벤트와 패킷이 알려 주는 소켓의 끝이며, poll과 select는 그 스레드가 다음에 쓴 소켓에 그립니다."
                           " 기다리는 동안 패킷이 오간 호출은 호출한 곳(…)과 반환한 곳에 두 번 그립니다. send는 상대의"
                           " 패킷이 오가는 동안 1밀리초 넘게 걸렸을 때 (상대의 ACK가 만드는 버퍼 자리를) 기다린 것으로 봅니다.",
    "legend.calls.lost": "커널의 추적 버퍼가 이벤트 {count}개를 잃었습니다: 이 그림에는 빠진 호출이 있습니다.",
    "legend.states.lost": "실행 중 커널의 추적 버퍼가 상태 이벤트 {count}개를 잃었습니다: 커널의 상태가 패킷과 다르다면"
                          " 그 때문일 수 있습니다.",
    "legend.unix": "패킷이 없습니다: AF_UNIX 소켓은 선 위에 아무것도 보내지 않습니다. 커널이 한 소켓이 쓴 것을 다른 소켓의"
                   " 수신 큐로 바로 복사하므로 캡처할 것이 없으며, 각 호출이 옮긴 바이트 수를 보여 줍니다.",
    "legend.rows": "패킷 하나가 화살표 하나이며, 캡처된 순서대로 그립니다. 기울기는 방향만 나타내고 지연을 뜻하지 않으며,"
                   " 왼쪽 여백은 프레임 번호와 시작 후 시간입니다.",
    "legend.loopback": "루프백에서는 보내는 순간과 받는 순간이 같습니다.",
    "legend.states.inferred": "상태(RFC 9293 이름)는 패킷으로부터 추정한 것입니다 (커널 기록 없음).",
    "legend.states.kernel": "상태(RFC 9293 이름)는 실행 중 커널이 기록한 것(sock:inet_sock_set_state)이며,"
                            " 패킷으로 추정한 상태와 일치합니다.",
    "legend.states.moved": "상태(RFC 9293 이름)는 실행 중에 기록한 커널의 것(sock:inet_sock_set_state)이며, 커널이"
                           " 들어간 자리에 그렸습니다. 패킷이 뜻하는 상태와 같지만 {moved}.",
    "kernel.moved": "{side}는 #{frame}이(가) 아니라 {when}에 {state}에 들어갔습니다",
    "legend.states.differ": "상태(RFC 9293 이름)는 실행 중 커널이 기록한 것이며, 패킷으로 추정한 상태와 다른 곳은 빨간색으로"
                            " 표시했습니다: {differences}.",
    "legend.membership": "호스트의 멀티캐스트 그룹 가입 메시지 (IPv4는 IGMP, IPv6는 MLD): 링크의 멀티캐스트 라우터"
                         "(224.0.0.22, ff02::16)에게 이제 어떤 그룹을 원하는지 알립니다. 그룹 가입은 EXCLUDE {{}} (모든 송신자),"
                         " 탈퇴는 INCLUDE {{}} (아무도 없음)를 보고합니다. 화살표 하나가 메시지 하나이며, 프로그램이 아니라 커널이"
                         " 보내고 반복하기도 합니다.",
    "legend.udp": "UDP: 화살표 하나가 데이터그램 하나이고 len은 페이로드 바이트 수입니다. 핸드셰이크도 ACK도 연결 종료도"
                  " 없습니다. 데이터그램이 도착했는지는 선 위에 드러나지 않으며, 각 데이터그램은 경계를 유지합니다.",
    "legend.icmp": "빨간색: 데이터그램에 대한 ICMP 오류 (port unreachable: 그 포트에서 아무도 기다리지 않음).",
    "legend.seq": "seq와 ack는 tshark처럼 각 쪽의 초기 순서 번호(ISN)에 대한 상대값입니다{isns}.",
    "legend.isns": ". 실제 ISN: {isns}",
    "legend.numbers": "seq a:b (n) = 페이로드 n바이트, a부터 b 직전까지;  win = 윈도 스케일링을 적용한 수신 윈도(바이트);"
                      "  ACK는 그 번호 앞의 모든 바이트를 확인합니다: ack = 확인하는 세그먼트의 seq + 길이.",
    "legend.colours": "검은색: SYN과 FIN, 파란색: 데이터, 회색: ACK만 있는 세그먼트, 빨간색: RST 또는 ICMP 오류. {states}",
    "legend.marks": "[표시]는 tshark의 세그먼트 분석입니다. 확인되지 않은 바이트를 한 왕복 시간 안에 다시 보내면 tshark는"
                    " out of order라고 부르므로, 그런 세그먼트에는 재전송이라는 설명도 붙입니다.",
    "legend.time_wait": "TIME_WAIT는 패킷으로 보이지 않습니다: 먼저 닫은 쪽이 마지막 ACK 뒤에 리눅스에서는 고정된 {msl}초"
                        " 동안 기다립니다(RFC 9293은 2 x MSL, 곧 MSL 2분의 두 배인 4분을 요구합니다). {how}",
    "legend.time_wait.kernel": "연결 종료 직후 커널의 TIME_WAIT 표에서 확인했습니다 (기록된 소켓 자체는 FIN_WAIT_2 -> CLOSE로"
                               " 바뀌고, 별도의 작은 소켓이 TIME_WAIT를 맡습니다).",
    "legend.time_wait.inferred": "여기서는 추정한 것입니다.",
    "legend.zero_window_probe": "한 바이트 앞의 빈 세그먼트에 붙은 [zero window probe]는 tshark가 아니라 이 도구의 표시입니다:"
                                " 리눅스는 0 윈도우를 그렇게 탐색하지만, tshark는 그런 세그먼트를 keep-alive라고만 부릅니다.",
    "report.happened": "무슨 일이 있었나",
    "report.packets": "패킷",
    "report.calls": "소켓 호출",
    "report.calls.header": "| 시간 (ms) | 쪽 | 호출 | 결과 |",
    "report.calls.header.traced": "| 시간 (ms) | 쪽 | pid | 호출 | 결과 |",
    "report.tcp.header": "| 프레임 | 시간 (ms) | 보낸 쪽 | 플래그 | seq (실제) | ack (실제) | 길이 | 윈도 | 표시 |",
    "report.udp.header": "| 프레임 | 시간 (ms) | 보낸 쪽 | 길이 | 비고 |",
    "report.refused.title": "연결 거부",
    "report.refused": "클라이언트의 SYN(프레임 {frame})에 RST+ACK가 돌아왔습니다. 포트 {port}에서 기다리는 소켓이 없어 커널이"
                      " 연결을 거부했고, connect()는 ECONNREFUSED로 실패했습니다.",
    "report.handshake": "클라이언트가 초기 순서 번호 {isn}을(를) 담은 SYN으로 시작합니다(화면에는 0으로 표시). 서버는 자신의 ISN {server_isn}과(와)"
                        " ACK {ack} = {seq} + 1을 담은 SYN+ACK로 답합니다: SYN도 1바이트로 셉니다. 클라이언트의"
                        " 프레임 {frame}의 ACK {final}으로(로) 핸드셰이크가 끝나고 양쪽 모두 ESTABLISHED가 됩니다.",
    "report.data": "클라이언트는 {client}바이트, 서버는 {server}바이트를 세그먼트 {segments}개로 보냅니다. 첫 세그먼트인"
                   " 프레임 {frame}은(는) {first}번부터 {last}번까지 {length}바이트를 담고 있습니다",
    "report.data.acked": ". {side}는 프레임 {ack_frame}에서 ACK {ack} = SEQ {seq} + {length}으로(로) 확인 응답합니다:"
                         " 다음에 받을 바이트 번호입니다.",
    "report.data.resent": " 세그먼트 {count}개가 다시 전송되었습니다 (프레임 {frame}이(가) 프레임 {original}의 바이트를 반복).",
    "report.reset": "{side}가 FIN 대신 RST(프레임 {frame})로 연결을 끝냅니다: 작별 인사도 TIME_WAIT도 없고, 상대의 다음"
                    " 호출은 실패합니다.",
    "report.no_fin": "어느 쪽도 닫기 전에 캡처가 끝납니다.",
    "report.fin": "{side}가 먼저 닫습니다: 그 FIN(프레임 {frame}, SEQ {seq})은",
    "report.fin.acked": " ACK {ack} = {seq} + 1로 확인됩니다. FIN도 1바이트로 세기 때문입니다",
    "report.fin.acked.data": " 데이터 {length}바이트를 함께 싣고 ACK {ack} = {seq} + {length} + 1로 확인됩니다: 데이터에"
                             " 더해 FIN도 1바이트로 세기 때문입니다",
    "report.simultaneous": " 다른 쪽의 FIN은 이 FIN이 도착하기 전에 떠났습니다: 동시 종료이며, 양쪽 모두 CLOSING을 거칩니다.",
    "report.second_fin": " 이어서 {side}가 자신의 FIN(프레임 {frame})을 보냅니다{together}",
    "report.second_fin.together": ". 이 FIN은 ACK와 같은 세그먼트에 실렸습니다: 세그먼트 세 개로 끝나는 종료입니다.",
    "report.time_wait": " 먼저 닫은 {sides}는 TIME_WAIT에서 {msl}초(리눅스의 고정 시간, RFC 9293은 2 x MSL = 4분) 동안"
                        " 기다리며, 이는 패킷으로 보이지 않습니다.",
    "report.udp": "데이터그램 {count}개, {lengths}바이트: 핸드셰이크도 확인 응답도 연결 종료도 없습니다. 각 데이터그램은"
                  " 통째로 전달되거나 아예 전달되지 않으며, 경계를 유지합니다.",
    "report.icmp": " 프레임 {frame}은(는) {reporter}이(가) 보낸 ICMP {kind}입니다: 데이터그램이 도착한 호스트의 포트 {port}에서"
                   " 기다리는 소켓이 없었습니다.",
    "side.client": "클라이언트", "side.server": "서버", "side.both": "클라이언트와 서버",
    "side.sender": "보내는 쪽", "side.group": "그룹 주소",
}

# The kernel's reasons, as tcp:tcp_send_reset and skb:kfree_skb name them, in words: code -> (en, ko).
# Written from the kernel's own comments (include/net/rstreason.h, dropreason-core.h); a test
# reads this kernel's tracepoint formats and requires a phrase for every reason they list.
RESET_REASONS = {
    "NOT_SPECIFIED": ("no reason given", "이유가 주어지지 않음"),
    "NO_SOCKET": ("no socket on this port", "이 포트에 소켓이 없음"),
    "TCP_INVALID_ACK_SEQUENCE": ("an ACK for data never sent", "보낸 적 없는 데이터에 대한 ACK"),
    "TCP_RFC7323_PAWS": ("an old timestamp (PAWS, RFC 7323)", "오래된 타임스탬프 (PAWS, RFC 7323)"),
    "TCP_TOO_OLD_ACK": ("an ACK far too old", "너무 오래된 ACK"),
    "TCP_ACK_UNSENT_DATA": ("an ACK for data not sent yet", "아직 보내지 않은 데이터에 대한 ACK"),
    "TCP_FLAGS": ("flags that make no sense in this state", "이 상태에서 맞지 않는 플래그"),
    "TCP_OLD_ACK": ("an old ACK", "오래된 ACK"),
    "TCP_ABORT_ON_DATA": ("data arrived for a socket already closed", "이미 닫은 소켓에 데이터가 도착함"),
    "TCP_TIMEWAIT_SOCKET": ("a segment for a TIME_WAIT socket", "TIME_WAIT 소켓에 온 세그먼트"),
    "INVALID_SYN": ("a SYN where none belongs", "있어서는 안 될 SYN"),
    "TCP_ABORT_ON_CLOSE": ("closed with unread data", "읽지 않은 데이터가 남은 채 close함"),
    "TCP_ABORT_ON_LINGER": ("SO_LINGER's time ran out in FIN_WAIT_2", "FIN_WAIT_2에서 SO_LINGER 시간이 다함"),
    "TCP_ABORT_ON_MEMORY": ("out of memory for orphaned sockets", "고아 소켓에 쓸 메모리 부족"),
    "TCP_STATE": ("aborted while open (close with SO_LINGER 0, or a disconnect)",
                  "열린 채 중단됨 (SO_LINGER 0으로 close, 또는 연결 끊기)"),
    "TCP_KEEPALIVE_TIMEOUT": ("keep-alive probes went unanswered", "keep-alive 프로브에 응답이 없음"),
    "TCP_DISCONNECT_WITH_DATA": ("disconnected with data not yet sent or read", "보내거나 읽지 않은 데이터가 남은 채 연결을 끊음"),
    "MPTCP_RST_EUNSPEC": ("MPTCP: unspecified error", "MPTCP: 지정되지 않은 오류"),
    "MPTCP_RST_EMPTCP": ("MPTCP: protocol error", "MPTCP: 프로토콜 오류"),
    "MPTCP_RST_ERESOURCE": ("MPTCP: out of resources for a subflow", "MPTCP: 서브플로에 쓸 자원 부족"),
    "MPTCP_RST_EPROHIBIT": ("MPTCP: subflow prohibited by policy", "MPTCP: 정책이 서브플로를 금지함"),
    "MPTCP_RST_EWQ2BIG": ("MPTCP: too much data waiting to be sent", "MPTCP: 보내기를 기다리는 데이터가 너무 많음"),
    "MPTCP_RST_EBADPERF": ("MPTCP: subflow performing too badly", "MPTCP: 서브플로 성능이 너무 나쁨"),
    "MPTCP_RST_EMIDDLEBOX": ("MPTCP: a middlebox interfered", "MPTCP: 중간 장비가 간섭함"),
    "ERROR": ("an error on the socket", "소켓 오류"),
}

DROP_REASONS = {
    "NOT_SPECIFIED": ("no reason given", "이유가 주어지지 않음"),
    "NO_SOCKET": ("no socket on this port", "이 포트에 소켓이 없음"),
    "SOCKET_CLOSE": ("the socket is closing", "소켓이 닫히는 중"),
    "SOCKET_FILTER": ("the socket's filter", "소켓의 필터"),
    "SOCKET_RCVBUFF": ("the socket's receive buffer is full", "소켓의 수신 버퍼가 가득 참"),
    "UNIX_DISCONNECT": ("the Unix socket's peer disconnected", "유닉스 소켓의 상대가 연결을 끊음"),
    "UNIX_SKIP_OOB": ("out-of-band data skipped on a Unix socket", "유닉스 소켓에서 긴급 데이터를 건너뜀"),
    "PKT_TOO_SMALL": ("the packet is too small", "패킷이 너무 작음"),
    "TCP_CSUM": ("a bad TCP checksum", "TCP 체크섬 오류"),
    "UDP_CSUM": ("a bad UDP checksum", "UDP 체크섬 오류"),
    "NETFILTER_DROP": ("a firewall rule (netfilter)", "방화벽 규칙 (netfilter)"),
    "OTHERHOST": ("addressed to another host", "다른 호스트가 받을 패킷"),
    "IP_CSUM": ("a bad IP checksum", "IP 체크섬 오류"),
    "IP_INHDR": ("a bad IP header", "잘못된 IP 헤더"),
    "IP_RPFILTER": ("reverse-path filtering", "역경로 필터 (rp_filter)"),
    "UNICAST_IN_L2_MULTICAST": ("unicast IP in a link-layer multicast frame", "링크 계층 멀티캐스트 프레임 안의 유니캐스트 IP"),
    "XFRM_POLICY": ("an IPsec policy check", "IPsec 정책 검사"),
    "IP_NOPROTO": ("no handler for this IP protocol", "이 IP 프로토콜을 처리할 곳이 없음"),
    "PROTO_MEM": ("the protocol's memory limit", "프로토콜의 메모리 한도"),
    "TCP_AUTH_HDR": ("a TCP-MD5 or TCP-AO option given twice or wrong", "TCP-MD5 또는 TCP-AO 옵션이 두 번 오거나 잘못됨"),
    "TCP_MD5NOTFOUND": ("no TCP-MD5 signature where one is required", "필요한 TCP-MD5 서명이 없음"),
    "TCP_MD5UNEXPECTED": ("a TCP-MD5 signature not expected", "예상하지 않은 TCP-MD5 서명"),
    "TCP_MD5FAILURE": ("a wrong TCP-MD5 signature", "틀린 TCP-MD5 서명"),
    "TCP_AONOTFOUND": ("no TCP-AO signature where one is required", "필요한 TCP-AO 서명이 없음"),
    "TCP_AOUNEXPECTED": ("a TCP-AO signature not expected", "예상하지 않은 TCP-AO 서명"),
    "TCP_AOKEYNOTFOUND": ("an unknown TCP-AO key", "알 수 없는 TCP-AO 키"),
    "TCP_AOFAILURE": ("a wrong TCP-AO signature", "틀린 TCP-AO 서명"),
    "SOCKET_BACKLOG": ("the socket's backlog is full", "소켓의 백로그가 가득 참"),
    "TCP_FLAGS": ("flags that make no sense in this state", "이 상태에서 맞지 않는 플래그"),
    "TCP_ABORT_ON_DATA": ("data for a socket already closed", "이미 닫은 소켓에 온 데이터"),
    "TCP_ZEROWINDOW": ("the receive window is zero", "수신 윈도우가 0"),
    "TCP_OLD_DATA": ("data already received (a needless resend)", "이미 받은 데이터 (불필요한 재전송)"),
    "TCP_OVERWINDOW": ("data beyond the receive window", "수신 윈도우를 넘는 데이터"),
    "TCP_OFOMERGE": ("data already queued out of order", "순서가 어긋난 채 이미 큐에 있는 데이터"),
    "TCP_RFC7323_PAWS": ("an old timestamp (PAWS, RFC 7323)", "오래된 타임스탬프 (PAWS, RFC 7323)"),
    "TCP_RFC7323_PAWS_ACK": ("an old timestamp on an ACK (PAWS)", "ACK의 오래된 타임스탬프 (PAWS)"),
    "TCP_RFC7323_TW_PAWS": ("an old timestamp for a TIME_WAIT socket (PAWS)", "TIME_WAIT 소켓에 온 오래된 타임스탬프 (PAWS)"),
    "TCP_RFC7323_TSECR": ("a timestamp echo for a time never sent", "보낸 적 없는 시각의 타임스탬프 응답"),
    "TCP_LISTEN_OVERFLOW": ("the accept queue is full", "accept 큐가 가득 참"),
    "TCP_OLD_SEQUENCE": ("an old sequence number (a duplicate)", "오래된 순서 번호 (중복)"),
    "TCP_INVALID_SEQUENCE": ("a sequence number outside the window", "윈도우 밖의 순서 번호"),
    "TCP_INVALID_END_SEQUENCE": ("data ending outside the window", "윈도우 밖에서 끝나는 데이터"),
    "TCP_INVALID_ACK_SEQUENCE": ("an ACK for data never sent", "보낸 적 없는 데이터에 대한 ACK"),
    "TCP_RESET": ("a RST that does not fit the connection", "연결에 맞지 않는 RST"),
    "TCP_INVALID_SYN": ("a SYN where none belongs", "있어서는 안 될 SYN"),
    "TCP_CLOSE": ("the socket is closed", "소켓이 닫혀 있음"),
    "TCP_FASTOPEN": ("a TCP Fast Open request socket", "TCP Fast Open 요청 소켓"),
    "TCP_OLD_ACK": ("an old ACK", "오래된 ACK"),
    "TCP_TOO_OLD_ACK": ("an ACK far too old", "너무 오래된 ACK"),
    "TCP_ACK_UNSENT_DATA": ("an ACK for data not sent yet", "아직 보내지 않은 데이터에 대한 ACK"),
    "TCP_OFO_QUEUE_PRUNE": ("pruned from the out-of-order queue (memory)", "순서 어긋남 큐에서 정리됨 (메모리)"),
    "TCP_OFO_DROP": ("data already in the receive queue", "이미 수신 큐에 있는 데이터"),
    "IP_OUTNOROUTES": ("no route out", "나갈 경로가 없음"),
    "BPF_CGROUP_EGRESS": ("a cgroup BPF program on the way out", "나가는 길의 cgroup BPF 프로그램"),
    "IPV6DISABLED": ("IPv6 is disabled on the device", "장치에서 IPv6가 꺼져 있음"),
    "NEIGH_CREATEFAIL": ("no neighbour entry could be made", "이웃 항목을 만들지 못함"),
    "NEIGH_FAILED": ("the neighbour could not be resolved", "이웃 주소를 알아내지 못함"),
    "NEIGH_QUEUEFULL": ("the neighbour's queue is full", "이웃 항목의 큐가 가득 참"),
    "NEIGH_DEAD": ("the neighbour entry is gone", "이웃 항목이 사라짐"),
    "NEIGH_HH_FILLFAIL": ("the neighbour's link-layer header could not be filled", "이웃의 링크 계층 헤더를 채우지 못함"),
    "TC_EGRESS": ("a tc rule on the way out", "나가는 길의 tc 규칙"),
    "SECURITY_HOOK": ("a security module", "보안 모듈"),
    "QDISC_DROP": ("the queueing discipline refused it", "큐 규칙(qdisc)이 받지 않음"),
    "QDISC_OVERLIMIT": ("the queueing discipline's limit", "큐 규칙(qdisc)의 한도"),
    "QDISC_CONGESTED": ("the queueing discipline is congested", "큐 규칙(qdisc)이 혼잡함"),
    "CAKE_FLOOD": ("CAKE's flood protection", "CAKE의 폭주 방지"),
    "FQ_BAND_LIMIT": ("fq's band limit", "fq의 대역 한도"),
    "FQ_HORIZON_LIMIT": ("fq's time horizon", "fq의 시간 한도"),
    "FQ_FLOW_LIMIT": ("fq's per-flow limit", "fq의 흐름별 한도"),
    "CPU_BACKLOG": ("the CPU's input backlog is full", "CPU의 입력 백로그가 가득 참"),
    "XDP": ("an XDP program", "XDP 프로그램"),
    "TC_INGRESS": ("a tc rule on the way in", "들어오는 길의 tc 규칙"),
    "UNHANDLED_PROTO": ("a protocol not handled here", "여기서 처리하지 않는 프로토콜"),
    "SKB_CSUM": ("a checksum could not be computed", "체크섬을 계산하지 못함"),
    "SKB_GSO_SEG": ("a segmentation (GSO) error", "분할(GSO) 오류"),
    "SKB_UCOPY_FAULT": ("copying from the program failed", "프로그램에서 복사하지 못함"),
    "DEV_HDR": ("a bad device header", "잘못된 장치 헤더"),
    "DEV_READY": ("the device is not ready", "장치가 준비되지 않음"),
    "FULL_RING": ("a full ring buffer", "가득 찬 링 버퍼"),
    "NOMEM": ("out of memory", "메모리 부족"),
    "HDR_TRUNC": ("a header cut short", "잘린 헤더"),
    "TAP_FILTER": ("a tun/tap filter", "tun/tap 필터"),
    "TAP_TXFILTER": ("a tun/tap transmit filter", "tun/tap 송신 필터"),
    "ICMP_CSUM": ("a bad ICMP checksum", "ICMP 체크섬 오류"),
    "INVALID_PROTO": ("a packet the protocol forbids", "프로토콜이 허용하지 않는 패킷"),
    "IP_INADDRERRORS": ("host unreachable", "호스트에 닿을 수 없음"),
    "IP_INNOROUTES": ("network unreachable", "네트워크에 닿을 수 없음"),
    "IP_LOCAL_SOURCE": ("a source address of this host's own", "이 호스트 자신의 출발지 주소"),
    "IP_INVALID_SOURCE": ("an invalid source address", "잘못된 출발지 주소"),
    "IP_LOCALNET": ("a loopback address from outside", "밖에서 온 loopback 주소"),
    "IP_INVALID_DEST": ("an invalid destination address", "잘못된 목적지 주소"),
    "PKT_TOO_BIG": ("too big for the link (MTU)", "링크에 비해 너무 큼 (MTU)"),
    "DUP_FRAG": ("a duplicate fragment", "중복된 조각"),
    "FRAG_REASM_TIMEOUT": ("fragments never completed in time", "조각이 제때 다 모이지 않음"),
    "FRAG_TOO_FAR": ("a fragment too far behind", "너무 뒤처진 조각"),
    "TCP_MINTTL": ("a TTL below the minimum (IP_MINTTL)", "최소값(IP_MINTTL)보다 낮은 TTL"),
    "IPV6_BAD_EXTHDR": ("a bad IPv6 extension header", "잘못된 IPv6 확장 헤더"),
    "IPV6_NDISC_FRAG": ("a fragmented neighbour discovery message", "조각난 이웃 탐색 메시지"),
    "IPV6_NDISC_HOP_LIMIT": ("a neighbour discovery message with a bad hop limit", "홉 제한이 잘못된 이웃 탐색 메시지"),
    "IPV6_NDISC_BAD_CODE": ("a neighbour discovery message with a bad code", "코드가 잘못된 이웃 탐색 메시지"),
    "IPV6_NDISC_BAD_OPTIONS": ("a neighbour discovery message with bad options", "옵션이 잘못된 이웃 탐색 메시지"),
    "IPV6_NDISC_NS_OTHERHOST": ("a neighbour solicitation for another host", "다른 호스트를 찾는 이웃 요청"),
    "QUEUE_PURGE": ("a queue emptied at once", "큐를 한꺼번에 비움"),
    "TC_COOKIE_ERROR": ("a tc cookie error", "tc 쿠키 오류"),
    "PACKET_SOCK_ERROR": ("a packet socket's error", "패킷 소켓 오류"),
    "TC_CHAIN_NOTFOUND": ("a tc chain not found", "tc 체인을 찾지 못함"),
    "TC_RECLASSIFY_LOOP": ("tc reclassified it too often", "tc가 너무 여러 번 재분류함"),
    "VXLAN_INVALID_HDR": ("a bad VXLAN header", "잘못된 VXLAN 헤더"),
    "VXLAN_VNI_NOT_FOUND": ("an unknown VXLAN network (VNI)", "알 수 없는 VXLAN 네트워크 (VNI)"),
    "MAC_INVALID_SOURCE": ("an invalid source MAC address", "잘못된 출발지 MAC 주소"),
    "VXLAN_ENTRY_EXISTS": ("a VXLAN entry that already exists", "이미 있는 VXLAN 항목"),
    "NO_TX_TARGET": ("nowhere to send it", "보낼 곳이 없음"),
    "IP_TUNNEL_ECN": ("a tunnel's ECN bits do not fit", "터널의 ECN 비트가 맞지 않음"),
    "TUNNEL_TXINFO": ("a tunnel without transmit information", "송신 정보가 없는 터널"),
    "LOCAL_MAC": ("a source MAC address of this host's own", "이 호스트 자신의 출발지 MAC 주소"),
    "ARP_PVLAN_DISABLE": ("ARP proxying for a private VLAN is off", "사설 VLAN의 ARP 대리가 꺼져 있음"),
    "MAC_IEEE_MAC_CONTROL": ("an IEEE MAC control frame", "IEEE MAC 제어 프레임"),
    "BRIDGE_INGRESS_STP_STATE": ("the bridge port is not forwarding (STP)", "브리지 포트가 전달하지 않는 상태 (STP)"),
    "CAN_RX_INVALID_FRAME": ("an invalid CAN frame", "잘못된 CAN 프레임"),
    "CANFD_RX_INVALID_FRAME": ("an invalid CAN FD frame", "잘못된 CAN FD 프레임"),
    "CANXL_RX_INVALID_FRAME": ("an invalid CAN XL frame", "잘못된 CAN XL 프레임"),
    "PFMEMALLOC": ("emergency memory kept for swapping", "스와프용으로 남겨 둔 비상 메모리"),
    "DUALPI2_STEP_DROP": ("DualPI2's queue step", "DualPI2 큐의 단계 한도"),
    "PSP_INPUT": ("a PSP (encryption) check on the way in", "들어오는 길의 PSP(암호화) 검사"),
    "PSP_OUTPUT": ("a PSP (encryption) check on the way out", "나가는 길의 PSP(암호화) 검사"),
    "RECURSION_LIMIT": ("too many nested transmissions", "너무 깊게 겹친 전송"),
}


# tshark's analysis marks, each with what it means: code -> (en, ko). Shown where a packet's details are.
MARK_MEANINGS = {
    "retransmission": ("bytes sent before, sent again", "전에 보낸 바이트를 다시 보냄"),
    "fast_retransmission": ("sent again soon after duplicate ACKs asked for it, before its timer ran out",
                            "중복 ACK가 요청한 직후, 타이머가 끝나기 전에 다시 보냄"),
    "spurious_retransmission": ("sent again though the receiver had already acknowledged it",
                                "수신 쪽이 이미 확인했는데도 다시 보냄"),
    "out_of_order": ("arrived with lower sequence numbers than bytes already seen, soon after them",
                     "이미 본 바이트보다 낮은 순서 번호로, 곧이어 도착함"),
    "lost_segment": ("bytes before this one were never seen: a segment is missing from the capture",
                     "이 앞의 바이트가 보이지 않음: 캡처에서 세그먼트 하나가 빠짐"),
    "duplicate_ack": ("the same ACK again, with no data and the same window: the receiver is missing bytes",
                      "데이터 없이 같은 창으로 같은 ACK를 다시 보냄: 수신 쪽에 바이트가 빠짐"),
    "zero_window": ("the receiver's buffer is full: the sender must wait", "수신 버퍼가 가득 참: 보내는 쪽은 기다려야 함"),
    "zero_window_probe": ("sent while the peer's window is zero, to learn when it opens",
                          "상대의 창이 0일 때, 창이 언제 열리는지 알아보려고 보냄"),
    "zero_window_probe_ack": ("the answer to a zero-window probe", "창 0 프로브에 대한 응답"),
    "window_update": ("only the window changed: no data, the same SEQ and ACK", "창만 바뀜: 데이터 없이 같은 SEQ와 ACK"),
    "keep_alive": ("one below the next sequence number, with at most one byte: a keep-alive's form (Linux's zero-window probes take it too)",
                   "다음 순서 번호보다 1 작고 많아야 1바이트: keep-alive의 모양 (리눅스의 창 0 프로브도 이 모양)"),
    "keep_alive_ack": ("the answer to a keep-alive", "keep-alive에 대한 응답"),
}

# The words of the HTML explorer's own controls and panels: key -> (en, ko).
PAGE_WORDS = {
    "conversations": ("Conversations", "대화"),
    "index.hint": ("Click a column to sort; click a row to open its ladder.", "열을 누르면 정렬하고, 행을 누르면 그 사다리 그림을 엽니다."),
    "protocol": ("protocol", "프로토콜"), "client": ("client", "클라이언트"), "server": ("server", "서버"),
    "packets": ("packets", "패킷"), "bytes": ("bytes", "바이트"), "opened": ("opened", "열림"), "closed": ("closed", "닫힘"),
    "marks": ("marks", "표시"), "duration": ("duration", "길이"),
    "numbers": ("Numbers", "번호"), "relative": ("relative", "상대"), "absolute": ("absolute", "절대"),
    "show": ("Show", "보이기"), "acks": ("bare ACKs", "데이터 없는 ACK"), "calls": ("socket calls", "소켓 호출"),
    "states": ("states", "상태"), "time": ("Time", "시간"), "by.rows": ("by rows", "행 단위"),
    "by.time": ("real time", "실제 시간"), "idle": ("idle {duration}", "{duration} 동안 조용함"),
    "expand": ("expand", "펼치기"), "collapse": ("fold again", "다시 접기"),
    "keys": ("Keys: j/k or ↓/↑ step through the rows, Enter opens a fold, Esc clears.",
             "키: j/k 또는 ↓/↑로 행을 옮기고, Enter로 접힌 묶음을 펼치고, Esc로 선택을 지웁니다."),
    "details": ("Packet", "패킷"), "details.none": ("Click an arrow to see its packet.", "화살표를 누르면 그 패킷이 보입니다."),
    "frame": ("frame", "프레임"), "at": ("at", "시각"), "since": ("since the start", "시작부터"),
    "seq": ("SEQ", "SEQ"), "ack": ("ACK", "ACK"), "length": ("length", "길이"), "window": ("window", "창"),
    "window.scaled": ("{raw} × {factor} = {scaled}", "{raw} × {factor} = {scaled}"),
    "window.unscaled": ("{raw} (not scaled)", "{raw} (배율 없음)"),
    "flags": ("flags", "플래그"), "options": ("options", "옵션"), "payload": ("payload", "페이로드"),
    "payload.kept": ("the first {kept} of {length} bytes", "{length}바이트 중 처음 {kept}바이트"),
    "header": ("Header fields (bytes in network order)", "헤더 필드 (네트워크 바이트 순서)"),
    "header.none": ("No header view: the capture's frame is not at hand.", "헤더 보기 없음: 캡처의 프레임을 읽을 수 없습니다."),
    "graph": ("Time-sequence graph", "시간-순서 번호 그래프"),
    "graph.direction": ("bytes sent by the {side}", "{side}가 보낸 바이트"),
    "graph.hint": ("Wheel zooms, drag pans, double-click resets; click a point to select its packet.",
                   "휠로 확대하고, 끌어서 옮기고, 두 번 눌러 되돌립니다. 점을 누르면 그 패킷을 고릅니다."),
    "graph.seq": ("relative sequence number", "상대 순서 번호"), "graph.time": ("seconds since the start", "시작부터 초"),
    "graph.segments": ("segments", "세그먼트"), "graph.ack": ("ACK", "ACK"), "graph.window": ("receive window", "수신 창"),
    "graph.sack": ("SACK", "SACK"), "graph.resent": ("sent again", "다시 보냄"), "graph.probe": ("zero-window probe", "창 0 프로브"),
    "graph.cwnd": ("congestion window (segments)", "혼잡 창 (세그먼트)"),
    "graph.ssthresh": ("slow-start threshold (segments)", "슬로 스타트 임계값 (세그먼트)"),
    "graph.srtt": ("smoothed RTT (ms)", "평활 RTT (ms)"),
    "graph.kernel": ("the kernel's congestion control (tcp:tcp_probe: at each segment the sender received while ESTABLISHED)",
                     "커널의 혼잡 제어 (tcp:tcp_probe: 보내는 쪽이 ESTABLISHED 상태에서 세그먼트를 받을 때마다)"),
    "graph.no_probes": ("The kernel reported nothing of this sender: tcp_probe fires only at segments a socket receives while ESTABLISHED.",
                        "커널이 이 보내는 쪽에 대해 알려 준 것이 없습니다: tcp_probe는 소켓이 ESTABLISHED 상태에서 받은 세그먼트에서만 나옵니다."),
    "graph.no_kernel": ("No kernel record: congestion window, threshold and RTT are known only from a live run.",
                        "커널 기록 없음: 혼잡 창, 임계값, RTT는 실시간 실행에서만 알 수 있습니다."),
    "graph.none": ("No time-sequence graph: it is drawn for TCP.", "시간-순서 번호 그래프 없음: TCP에만 그립니다."),
    "legend": ("Legend", "범례"), "index.link": ("all conversations", "모든 대화"),
    "side.client": ("client", "클라이언트"), "side.server": ("server", "서버"),
}

TEXTS = {"en": _EN, "ko": _KO}

# The scenarios' one-line summaries in Korean, for diagram titles; English ones live with each scenario.
_KO_SUMMARIES = {
    "handshake": "서버가 listen하고 클라이언트가 connect한 뒤, 양쪽이 close한다 (클라이언트가 먼저)",
    "echo": "클라이언트가 5바이트를 보내고 서버가 그대로 돌려보낸다. 클라이언트가 먼저 close한다"
            " (능동 종료: 클라이언트가 TIME_WAIT로 끝난다)",
    "server-close": "같은 에코지만 서버가 먼저 close하므로 서버가 TIME_WAIT로 끝난다",
    "simultaneous-close": "양쪽이 같은 순간에 close한다. 전용 네트워크 네임스페이스에서 lo의 느린 큐가 각 세그먼트를"
                          " ~33 ms 붙잡아, 두 FIN 모두 상대에게 닿기 전에 떠난다: 양쪽 모두 FIN_WAIT_1 -> CLOSING -> TIME_WAIT",
    "half-close": "클라이언트가 요청을 보낸 뒤 shutdown(SHUT_WR)한다. 서버는 스트림 끝까지 읽고 (recv가 0을 반환)"
                  " 응답한 뒤 close한다",
    "refused": "아무도 listen하지 않는 포트에 connect한다: SYN에 RST+ACK가 돌아오고 connect는 ECONNREFUSED로 실패한다",
    "abort": "클라이언트가 SO_LINGER {on, 0}을 설정하고 close한다: FIN 대신 RST가 가고 TIME_WAIT는 없으며,"
             " 서버의 다음 recv는 ECONNRESET으로 실패한다",
    "reuseaddr": "서버가 먼저 close하고 (그래서 서버 쪽이 TIME_WAIT) 곧바로 같은 포트에 다시 bind한다:"
                 " SO_REUSEADDR 없이는 bind가 EADDRINUSE로 실패하고, 있으면 성공한다",
    "sigpipe": "서버가 close한다. 클라이언트는 스트림 끝을 읽은 뒤 두 번 write한다: 첫 write에는 RST가 돌아오고,"
               " 두 번째는 EPIPE로 실패한다 (서버들이 흔히 하듯 SIGPIPE는 무시)",
    "nagle": "10바이트 메시지로 write-write-read를 3번, 먼저 Nagle을 켠 채로, 이어서 두 번째 연결에서 TCP_NODELAY로 한다:"
             " Nagle이 켜져 있으면 두 번째 write가 서버의 지연 ACK를 기다린다",
    "stream-boundaries": "TCP에서 send()를 세 번 호출한다 (TCP_NODELAY라 세그먼트 세 개). 수신 측은 모두 도착한 뒤 한 번"
                         " 읽는다: recv 한 번이 모든 바이트를 반환하고, 메시지 경계는 사라진다",
    "zero-window": "서버가 작은 SO_RCVBUF를 설정하고 1초 동안 읽지 않는 사이 클라이언트가 64 KB를 쓴다: 윈도우가 0으로"
                   " 줄고, 클라이언트가 프로브를 보내고, 서버가 읽으면 윈도우가 열려 데이터가 다시 흐른다",
    "retransmission": "클라이언트가 100바이트 세그먼트 세 개를 보낸다. 전용 네임스페이스의 nftables 규칙이 두 번째"
                      " 세그먼트를 들어오는 길에 한 번 버린다: 수신 측은 빠진 곳 앞까지만 확인 응답하고, 클라이언트가"
                      " 그 세그먼트를 다시 보낸 뒤 모두 확인 응답된다",
    "keepalive": "클라이언트가 SO_KEEPALIVE를 켜고 TCP_KEEPIDLE과 TCP_KEEPINTVL을 1초로 둔 채 2.5초 동안 아무것도"
                 " 보내지 않는다: keep-alive 프로브 (seq가 다음 바이트보다 하나 작음)와 그 ACK",
    "backlog": "listen(backlog=1) 뒤 0.3초 동안 accept하지 않는 사이 클라이언트 셋이 connect한다: accept 큐는 둘을 담고,"
               " 세 번째 SYN은 버려져 약 1초 뒤 클라이언트가 다시 보내며, 그 뒤 셋 모두 처리된다",
    "udp": "연결하지 않은 UDP: 클라이언트가 4바이트를 sendto()하고, 서버가 recvfrom()으로 받아 9바이트 응답을"
           " sendto()한다: 데이터그램 둘, 핸드셰이크도 ACK도 종료도 없다",
    "udp-boundaries": "sendto() 세 번, recvfrom() 세 번: 읽을 때마다 데이터그램 하나가 통째로 반환된다. 이어서 20바이트"
                      " 데이터그램을 8바이트 버퍼로 읽으면 잘리고, recvmsg가 MSG_TRUNC를 알린다",
    "udp-unreachable": "connect한 UDP 소켓이 아무 소켓도 없는 포트로 보낸다: ICMP port unreachable이 돌아오고,"
                       " 다음 recv()는 ECONNREFUSED로 실패한다",
    "rto": "클라이언트가 100바이트 세그먼트 하나만 보낸다. 전용 네임스페이스의 nftables 규칙이 그것을 두 번 버린다:"
           " 재전송 타이머가 약 200 ms 뒤에 다시 보내고, 두 배가 된 약 400 ms 뒤에 또 보낸다 (그곳에서는 리눅스의"
           " tail loss probe를 꺼서 타이머만 동작한다)",
    "fast-retransmit": "SACK을 끈 채 클라이언트가 100바이트 세그먼트 다섯 개를 보내고 nftables 규칙이 두 번째를 버린다:"
                       " 뒤의 세그먼트마다 중복 ACK가 오고, 세 번째 중복 ACK에 클라이언트가 타이머보다 훨씬 먼저 빠진"
                       " 세그먼트를 곧바로 다시 보낸다",
    "last-ack-lost": "클라이언트가 먼저 close하고 nftables 규칙이 클라이언트의 마지막 ACK를 버린다: LAST_ACK인 서버가"
                     " 타이머가 끝나면 FIN을 다시 보내고, 아직 TIME_WAIT인 클라이언트가 다시 응답하며 TIME_WAIT를 처음부터"
                     " 다시 시작한다",
    "unread-close": "클라이언트가 5바이트를 보낸다. 서버는 읽지 않고 close한다: 수신 버퍼에 읽지 않은 바이트가 있으면"
                    " 커널은 FIN 대신 RST를 보내고, 어느 쪽도 TIME_WAIT에 남지 않으며, 클라이언트의 recv는"
                    " ECONNRESET으로 실패한다",
    "simultaneous-open": "각자 자기 포트에 bind한 두 소켓이 동시에 서로에게 connect한다 (listen()도 accept()도 없다)."
                         " 전용 네임스페이스의 느린 큐가 각 세그먼트를 ~40 ms (첫 세그먼트는 ~500 ms) 붙잡아, 두 SYN 모두 상대에게 닿기 전에"
                         " 떠난다: 양쪽 모두 SYN_SENT -> SYN_RECEIVED -> ESTABLISHED",
    "shared-close": "서버가 accept 뒤 fork해서 부모와 자식이 연결을 나눠 갖는다: 자식의 close()는 자기 참조만 지우므로"
                    " 부모도 close할 때까지 FIN이 나가지 않는다. 두 번째 연결에서는 자식의 shutdown(SHUT_WR)이 곧바로"
                    " FIN을 보내고, 그 뒤 부모의 send는 EPIPE로 실패한다",
    "nonblocking": "클라이언트가 소켓을 논블로킹(O_NONBLOCK)으로 만든다: connect는 EINPROGRESS를 반환하고, 핸드셰이크가"
                   " 끝나면 poll이 쓰기 가능을 알리며 SO_ERROR는 0이다. 데이터가 오기 전 recv는 EAGAIN을 반환하고, 서버의"
                   " 데이터가 도착하면 epoll_wait가 깨어난다. 이어서 느린 수신 측에 64 KB씩 send하면: 짧은 반환값, 그다음"
                   " EAGAIN, 그리고 자리가 날 때까지 poll",
    "mss": "전용 네임스페이스에서 lo의 MTU를 (이더넷처럼) 1500으로, 세그먼트 분할 오프로드 없이 두고 클라이언트가 send()"
           " 한 번으로 10,000바이트를 보낸다: 두 SYN 모두 MSS 1460 (MTU에서 IPv4와 TCP 헤더 40바이트를 뺀 값, IPv6에서는"
           " 1440)을 제안하고, 바이트는 그 크기에서 타임스탬프 옵션을 뺀 세그먼트들로 나간다",
    "buffers": "서버는 SO_RCVBUF를, 클라이언트는 SO_SNDBUF를 16,384로 설정하고 다시 읽는다 (리눅스는 두 배로 만든다:"
               " 32,768). 클라이언트가 128 KB를 보내는 동안 서버는 20 ms마다 8 KB씩 읽는다: 커널이 알려 주는 양쪽의 큐가"
               " 차고 비워진다",
    "unix-stream": "stream-boundaries를 유닉스 도메인 스트림 소켓(AF_UNIX, SOCK_STREAM, 파일 시스템의 이름)으로: send()"
                   " 세 번, recv() 한 번이 13바이트를 모두 반환하고 서버가 그대로 돌려보낸다. 패킷은 없다: 커널이 한 소켓에서"
                   " 다른 소켓으로 바이트를 복사하기 때문이다",
    "unix-dgram": "udp-boundaries를 유닉스 도메인 데이터그램 소켓(AF_UNIX, SOCK_DGRAM, 각자 이름에 bind)으로: sendto() 세 번,"
                  " recvfrom() 세 번이 각각 데이터그램 하나를 통째로 반환하고, 20바이트 데이터그램을 8바이트로 읽으면 잘리며"
                  " (MSG_TRUNC), 클라이언트의 이름으로 응답이 간다. 패킷은 없다",
    "broadcast": "두 수신 소켓이 같은 UDP 포트를 모든 주소에 bind한다 (SO_REUSEADDR). 송신 측이 링크의 브로드캐스트 주소"
                 " 192.0.2.255로 sendto()하면 SO_BROADCAST를 설정하기 전에는 EACCES로 실패하고, 설정하면 데이터그램"
                 " 하나가 링크로 나가며 각 수신 소켓이 자기 사본을 받는다",
    "multicast": "멤버 소켓이 그룹에 가입한다 (IP_ADD_MEMBERSHIP: 링크에 IGMP 보고, IPv6에서는 MLD). 같은 포트의 다른"
                 " 소켓은 가입하지 않고 IP_MULTICAST_ALL을 0으로 둔다 (그러지 않으면 호스트의 어느 소켓이든 가입하는 순간"
                 " 리눅스가 그룹의 데이터그램을 이 소켓에도 준다). 그룹으로 보낸 데이터그램 하나는 멤버에게만 가고,"
                 " 멤버가 탈퇴한다 (또 하나의 보고)",
    "dns": "전용 네임스페이스 loopback의 53번 포트에서 도는 작은 DNS 응답기에 example.test (A) 질의를 UDP로 보내고,"
           " 같은 질의를 TCP로도 보낸다. TCP에서는 메시지마다 앞에 2바이트 길이가 붙는다",
}
SCENARIO_SUMMARIES = {"en": {}, "ko": _KO_SUMMARIES}


# A Korean particle depends on how the word before it ends: 은/는, 이/가, 을/를, 과/와, and 으로/로
# (로 after a vowel or ㄹ). Templates write both forms, "{frame}은(는)", and the value decides.
_KOREAN_PARTICLE = re.compile(r"(\S)(은\(는\)|이\(가\)|을\(를\)|과\(와\)|으로\(로\))")
_RIEUL = 8   # ㄹ as a Hangul syllable's final consonant
# How the last digit of a number is read in Sino-Korean: 일 칠 팔 end in ㄹ; 이 사 오 구 in a vowel.
_DIGIT_FINAL = {"0": 21, "1": _RIEUL, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": _RIEUL, "8": _RIEUL, "9": 0}
# A number ending in zeros ends in the unit read last: 십 백 천 만 (then 억, 조 for 8 and 12 zeros).
_ZEROS_FINAL = {1: 17, 2: 1, 3: 4, 4: 4, 8: 1, 12: 0}
_LETTER_FINAL = {"L": _RIEUL, "M": 16, "N": 4, "R": _RIEUL}   # 엘 엠 엔 알; other letters end in a vowel


def _final(word: str) -> int:
    """The final consonant (a Hangul jongseong index, 0 for none) of the last syllable word is read with."""
    last = word[-1]
    if "가" <= last <= "힣":
        return (ord(last) - 0xAC00) % 28
    if last.isdigit():
        digits = re.search(r"\d+$", word)[0]
        zeros = len(digits) - len(digits.rstrip("0"))
        if zeros == len(digits):
            return _DIGIT_FINAL["0"]
        return _DIGIT_FINAL[digits[-1]] if zeros == 0 else _ZEROS_FINAL.get(zeros % 4 or zeros, 4)
    return _LETTER_FINAL.get(last.upper(), 0)


def _particle(match: re.Match) -> str:
    before, forms = match[1], match[2]
    consonant_form, vowel_form = forms.rstrip(")").split("(")
    final = _final(before)
    if consonant_form == "으로":
        return before + ("로" if final in (0, _RIEUL) else "으로")
    return before + (consonant_form if final else vowel_form)


class Words:
    """say(key, **values) in one language."""

    def __init__(self, lang: str = "en"):
        if lang not in TEXTS:
            raise ValueError(f"unknown language {lang}: choose from {', '.join(LANGUAGES)}")
        self.lang = lang

    def __call__(self, key: str, **values) -> str:
        text = TEXTS[self.lang][key].format(**values)
        return _KOREAN_PARTICLE.sub(_particle, text) if self.lang == "ko" else text

    def outcome(self, call) -> str:
        """What a socket call returned, with what a 0 from recv means."""
        return self("call.end_of_stream", outcome=call.outcome) if call.end_of_stream else call.outcome

    def reset_reason(self, code: str) -> str:
        """The kernel's reason for a reset, in words."""
        return self._reason(RESET_REASONS, code)

    def drop_reason(self, code: str) -> str:
        """The kernel's reason for dropping a packet, in words."""
        return self._reason(DROP_REASONS, code)

    def _reason(self, table: dict, code: str) -> str:
        """A newer kernel's reason the table lacks reads as the kernel spells it."""
        phrases = table.get(code)
        return phrases[LANGUAGES.index(self.lang)] if phrases else code.replace("_", " ").lower()

    def mark(self, mark: str) -> str:
        """What one of tshark's analysis marks means."""
        return MARK_MEANINGS[mark][LANGUAGES.index(self.lang)]

    def page_words(self) -> dict[str, str]:
        """The explorer page's own words, in this language."""
        return {key: phrases[LANGUAGES.index(self.lang)] for key, phrases in PAGE_WORDS.items()}

    def scenario_title(self, name: str, summary: str) -> str:
        return f"{name}: {SCENARIO_SUMMARIES[self.lang].get(name, summary)}"
