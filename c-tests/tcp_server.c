/* TCP server on the stack: listen on 10.77.0.2:7100, accept one kernel-side client, report its
 * address, echo until it half-closes, then close. */
#include <unistd.h>

#include "common.h"

int main(void) {
    int lfd = tapstack_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(lfd >= 0, "socket");
    int one = 1;
    CHECK(tapstack_setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
    struct sockaddr_in me = addr_of("10.77.0.2", 7100);
    CHECK(tapstack_bind(lfd, (struct sockaddr *)&me, sizeof me) == 0, "bind");
    CHECK(tapstack_listen(lfd, 4) == 0, "listen");
    printf("LISTENING\n");
    fflush(stdout);

    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int cfd = tapstack_accept(lfd, (struct sockaddr *)&peer, &plen);
    CHECK(cfd >= 0, "accept");
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    CHECK(strcmp(ip, "10.77.0.1") == 0, "client address %s", ip);

    size_t total = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = tapstack_read(cfd, buf, sizeof buf);
        CHECK(n >= 0, "read");
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = tapstack_write(cfd, buf + off, (size_t)(n - off));
            CHECK(w > 0, "write");
            off += w;
        }
        total += (size_t)n;
    }
    CHECK(tapstack_close(cfd) == 0 && tapstack_close(lfd) == 0, "close");
    printf("PASS tcp_server: echoed %zu bytes to %s\n", total, ip);
    return 0;
}
