"""A socketpair shared with a forked child: the child writes, the parent echoes it back in capitals."""

import os
import socket

parent_end, child_end = socket.socketpair()
child = os.fork()
if child == 0:
    parent_end.close()
    child_end.sendall(b"ping from the child")
    print(len(child_end.recv(100)))
    os._exit(0)
child_end.close()
parent_end.sendall(parent_end.recv(100).upper())
os.waitpid(child, 0)
parent_end.close()
