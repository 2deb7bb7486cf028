/* A forking echo server as the notes write it: for each client, fork; the child closes the
 * listener and echoes, the parent closes its copy of the connected socket and accepts the next.
 * Serves COUNT clients, waits for its children, closes. Prints "listening" once it listens. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 5000, count = argc > 2 ? atoi(argv[2]) : 1, one = 1;
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 15) < 0) {
        perror("bind/listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    for (int served = 0; served < count; served++) {
        int conn = accept(listener, NULL, NULL);
        if (conn < 0) { perror("accept"); return 1; }
        pid_t child = fork();
        if (child == 0) {
            close(listener);
            char buffer[1024];
            ssize_t n;
            while ((n = recv(conn, buffer, sizeof buffer, 0)) > 0)
                send(conn, buffer, n, 0);
            close(conn);
            _exit(0);
        }
        close(conn);
    }
    while (wait(NULL) > 0)
        ;
    close(listener);
    return 0;
}
