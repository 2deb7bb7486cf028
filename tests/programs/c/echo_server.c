/* An echo server as the notes write it: SIGPIPE ignored, SO_REUSEADDR, listen(fd, 15); serves
 * COUNT clients one after another, then closes. Prints "listening" once it listens. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 5000, count = argc > 2 ? atoi(argv[2]) : 1, one = 1;
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) { perror("socket"); return 1; }
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
    if (listen(listener, 15) < 0) { perror("listen"); return 1; }
    printf("listening\n");
    fflush(stdout);
    for (int served = 0; served < count; served++) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        int conn = accept(listener, (struct sockaddr *)&peer, &len);
        if (conn < 0) { perror("accept"); return 1; }
        char buffer[1024];
        ssize_t n;
        while ((n = recv(conn, buffer, sizeof buffer, 0)) > 0)
            if (send(conn, buffer, n, 0) < 0) { perror("send"); break; }
        close(conn);
    }
    close(listener);
    return 0;
}
