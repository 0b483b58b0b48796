/* One tapstack_poll over a stack TCP socket and a kernel pipe: a timeout with nothing pending
 * returns 0 on time; data on the pipe wakes it; data from the network wakes it. */
#include <poll.h>
#include <unistd.h>

#include "common.h"

int main(void) {
    int fd = tapstack_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket");
    struct sockaddr_in to = addr_of("10.77.0.1", 7300);
    CHECK(tapstack_connect(fd, (struct sockaddr *)&to, sizeof to) == 0, "connect");
    int p[2];
    CHECK(pipe(p) == 0, "pipe");

    struct pollfd fds[2] = {{fd, POLLIN, 0}, {p[0], POLLIN, 0}};
    double t = now_s();
    CHECK(tapstack_poll(fds, 2, 300) == 0, "poll with nothing pending");
    double took = now_s() - t;
    CHECK(took > 0.28 && took < 0.8, "timeout took %.3f s", took);

    CHECK(write(p[1], "k", 1) == 1, "pipe write");
    CHECK(tapstack_poll(fds, 2, 2000) == 1 && fds[1].revents & POLLIN && !fds[0].revents, "pipe readiness");
    char c;
    CHECK(read(p[0], &c, 1) == 1, "pipe read");

    /* The kernel side answers "net" 200 ms after our "go". */
    CHECK(tapstack_send(fd, "go", 2, 0) == 2, "send");
    fds[0].revents = fds[1].revents = 0;
    t = now_s();
    CHECK(tapstack_poll(fds, 2, 3000) == 1 && fds[0].revents & POLLIN && !fds[1].revents, "network readiness");
    char buf[8];
    CHECK(tapstack_recv(fd, buf, sizeof buf, 0) == 3 && memcmp(buf, "net", 3) == 0, "recv");
    printf("PASS poll_mixed: timeout %.0f ms, pipe and network each woke the poll\n", took * 1000);
    tapstack_close(fd);
    return 0;
}
