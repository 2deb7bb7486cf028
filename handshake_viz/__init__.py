"""handshake-viz: what really happens on the wire when programs use sockets."""
