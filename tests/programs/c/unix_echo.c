/* An echo over a Unix-domain socket, server and client in one program: the parent serves, the
 * forked child is the client. "stream" (SOCK_STREAM: listen, accept, connect) or "dgram"
 * (SOCK_DGRAM: each side binds a path, the server answers to the sender's). PATH is the
 * server's socket file; the client's is PATH.client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_un address(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    return addr;
}

static int client(const char *path, int type)
{
    const char *message = "hello over AF_UNIX\n";
    char buffer[256], own[200];
    struct sockaddr_un server = address(path);
    int fd = socket(AF_UNIX, type, 0);
    if (type == SOCK_DGRAM) {   /* a datagram client binds a path of its own, or gets no answer */
        snprintf(own, sizeof own, "%s.client", path);
        unlink(own);
        struct sockaddr_un mine = address(own);
        bind(fd, (struct sockaddr *)&mine, sizeof mine);
    }
    if (connect(fd, (struct sockaddr *)&server, sizeof server) < 0) { perror("connect"); return 1; }
    write(fd, message, strlen(message));
    ssize_t n = read(fd, buffer, sizeof buffer);
    close(fd);
    if (type == SOCK_DGRAM)
        unlink(own);
    return n == (ssize_t)strlen(message) ? 0 : 1;
}

int main(int argc, char **argv)
{
    int type = argc > 1 && strcmp(argv[1], "dgram") == 0 ? SOCK_DGRAM : SOCK_STREAM;
    const char *path = argc > 2 ? argv[2] : "/tmp/handshake-viz-echo.sock";
    struct sockaddr_un addr = address(path);
    unlink(path);
    int server = socket(AF_UNIX, type, 0);
    if (bind(server, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
    if (type == SOCK_STREAM)
        listen(server, 15);
    pid_t child = fork();
    if (child == 0) {
        close(server);
        _exit(client(path, type));
    }
    char buffer[256];
    struct sockaddr_un peer;
    socklen_t length = sizeof peer;
    int status = 1;
    if (type == SOCK_STREAM) {
        int conn = accept(server, NULL, NULL);
        ssize_t n;
        while ((n = read(conn, buffer, sizeof buffer)) > 0)
            write(conn, buffer, n);
        close(conn);
    } else {
        ssize_t n = recvfrom(server, buffer, sizeof buffer, 0, (struct sockaddr *)&peer, &length);
        sendto(server, buffer, n, 0, (struct sockaddr *)&peer, length);
    }
    waitpid(child, &status, 0);
    close(server);
    unlink(path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
