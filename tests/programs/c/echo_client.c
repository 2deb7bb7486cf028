/* An echo client as the notes write it: TCP_NODELAY, then O_NONBLOCK after connect, so it polls
 * before each recv. Sends its message, reads the echo, closes. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 5000, one = 1;
    const char *message = argc > 2 ? argv[2] : "hello, echo\n";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("connect"); return 1; }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t length = strlen(message), got = 0;
    if (send(fd, message, length, 0) != (ssize_t)length) { perror("send"); return 1; }
    char buffer[1024];
    while (got < length) {
        struct pollfd ready = { .fd = fd, .events = POLLIN };
        if (poll(&ready, 1, 5000) != 1) { fprintf(stderr, "no echo\n"); return 1; }
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) { perror("recv"); return 1; }
        got += n;
    }
    close(fd);
    return 0;
}
