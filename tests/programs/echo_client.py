"""A student's echo client: connect, send a line, print the echo, close."""
import socket
import sys
import time

port = int(sys.argv[1])
for attempt in range(50):  # the server may still be starting
    try:
        client = socket.create_connection(("127.0.0.1", port))
        break
    except ConnectionRefusedError:
        time.sleep(0.05)
client.sendall(b"hello, server\n")
print(client.recv(1024).decode().strip())
client.close()
