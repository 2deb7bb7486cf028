/* A client that half-closes: it sends its request, shutdown(SHUT_WR) says it has no more to
 * send (a FIN), and it still reads the whole answer until the server closes too. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 5000;
    const char *request = argc > 2 ? argv[2] : "request, then my FIN\n";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("connect"); return 1; }
    send(fd, request, strlen(request), 0);
    shutdown(fd, SHUT_WR);
    char buffer[1024];
    ssize_t n, total = 0;
    while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0)
        total += n;
    close(fd);
    return total == (ssize_t)strlen(request) ? 0 : 1;
}
