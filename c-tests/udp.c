/* UDP on the stack: a round trip with the kernel-side echo at 10.77.0.1:7200 (which prefixes the
 * address it saw), and ECONNREFUSED on a connected socket after sending to a closed port. */
#include <unistd.h>

#include "common.h"

int main(void) {
    int fd = tapstack_socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0, "socket");
    struct timeval tv = {1, 0};
    CHECK(tapstack_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
    struct sockaddr_in echo = addr_of("10.77.0.1", 7200);
    char buf[1500];
    ssize_t n = -1;
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    for (int i = 0; i < 5 && n < 0; i++) {
        CHECK(tapstack_sendto(fd, "ping", 4, 0, (struct sockaddr *)&echo, sizeof echo) == 4, "sendto");
        n = tapstack_recvfrom(fd, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &flen);
        CHECK(n >= 0 || errno == EAGAIN, "recvfrom");
    }
    CHECK(n > 0, "no echo");
    buf[n] = 0;
    CHECK(strncmp(buf, "10.77.0.2 ping", 14) == 0, "echo said %s", buf);
    CHECK(from.sin_port == htons(7200), "echo from port %d", ntohs(from.sin_port));

    int c = tapstack_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in closed = addr_of("10.77.0.1", 9);
    CHECK(tapstack_connect(c, (struct sockaddr *)&closed, sizeof closed) == 0, "connect");
    CHECK(tapstack_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
    CHECK(tapstack_send(c, "x", 1, 0) == 1, "send");
    n = tapstack_recv(c, buf, sizeof buf, 0);
    CHECK(n == -1 && errno == ECONNREFUSED, "expected ECONNREFUSED, got %zd", n);
    tapstack_close(c);
    tapstack_close(fd);
    printf("PASS udp: echo round trip, ECONNREFUSED from a closed port\n");
    return 0;
}
