/* COUNT short connections, one after another: connect, send a byte, read its echo, close. With
 * echo_server (tests/programs/c) serving COUNT clients, the load `make bench` watches. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 5000, count = argc > 2 ? atoi(argv[2]) : 10000;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        char byte = 'x';
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("connect"); return 1; }
        if (send(fd, &byte, 1, 0) != 1 || recv(fd, &byte, 1, 0) != 1) { perror("echo"); return 1; }
        close(fd);
    }
    return 0;
}
