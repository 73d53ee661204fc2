// SPDX-License-Identifier: Apache-2.0
// tests/tools/blackhole.c: a TCP port on 127.0.0.1 where connects never complete, for origin
// connect-timeout tests on loopback. It listens with a backlog of 0 and never accepts, then fills
// that backlog with its own connections: the kernel then drops further SYNs (with
// net.ipv4.tcp_abort_on_overflow 0, the default), so a client's connect just waits.
// Usage: blackhole PORT [SECONDS]   (exits by itself after SECONDS, default 120)
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: blackhole PORT [SECONDS]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int seconds = argc > 2 ? atoi(argv[2]) : 120;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 0) < 0) {
        perror("blackhole: listen");
        return 1;
    }
    // Backlog 0 admits one connection in the accept queue; two fill it for certain.
    for (int i = 0; i < 4; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c >= 0)
            connect(c, (struct sockaddr *)&a, sizeof(a));
        usleep(50000);
    }
    printf("ready %d\n", port);
    fflush(stdout);
    sleep((unsigned)seconds);
    return 0;
}
