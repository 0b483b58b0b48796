/* TCP client on the stack: connect to the kernel-side echo at 10.77.0.1:7000, send a message,
 * half-close, read the echo back until end of file, compare. The settings come from tapstack_set
 * (bad ones refused), and tapstack_version answers. */
#include <unistd.h>

#include "common.h"

int main(void) {
    /* Settings in code instead of the environment: checked at once, used by tapstack_init. */
    CHECK(strlen(tapstack_version()) >= 5, "tapstack_version");
    CHECK(tapstack_set("TAPSTACK_ADDR", "not-an-address") == -1 && errno == EINVAL, "bad value refused");
    CHECK(tapstack_set("TAPSTACK_NOSUCH", "1") == -1 && errno == EINVAL, "unknown setting refused");
    CHECK(tapstack_set(NULL, "1") == -1 && errno == EFAULT, "NULL refused");
    CHECK(tapstack_set("TAPSTACK_IDLE_EXIT", "forever") == -1 && errno == EINVAL, "bad idle exit");
    CHECK(tapstack_set("TAPSTACK_IDLE_EXIT", "5") == 0, "idle exit");
    CHECK(tapstack_set("TAPSTACK_ADDR", "10.77.0.2/24") == 0, "tapstack_set");
    CHECK(tapstack_init() == 0, "tapstack_init");
    CHECK(tapstack_set("TAPSTACK_ADDR", "10.77.0.2/24") == -1 && errno == EBUSY, "set after init");
    int fd = tapstack_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0, "tapstack_socket");
    struct sockaddr_in to = addr_of("10.77.0.1", 7000);
    CHECK(tapstack_connect(fd, (struct sockaddr *)&to, sizeof to) == 0, "connect");

    char msg[100000];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (char)(i * 7);
    size_t sent = 0;
    while (sent < sizeof msg) {
        ssize_t n = tapstack_send(fd, msg + sent, sizeof msg - sent, 0);
        CHECK(n > 0, "send");
        sent += (size_t)n;
    }
    CHECK(tapstack_shutdown(fd, SHUT_WR) == 0, "shutdown");

    static char back[sizeof msg + 1];
    size_t got = 0;
    double deadline = now_s() + 10;
    for (;;) {
        CHECK(now_s() < deadline, "echo did not finish in time");
        ssize_t n = tapstack_recv(fd, back + got, sizeof back - got, 0);
        CHECK(n >= 0, "recv");
        if (n == 0) break;
        got += (size_t)n;
    }
    CHECK(got == sizeof msg && memcmp(back, msg, sizeof msg) == 0, "echo differs (%zu bytes)", got);

    /* A closed port is refused. */
    int fd2 = tapstack_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in closed = addr_of("10.77.0.1", 1);
    CHECK(tapstack_connect(fd2, (struct sockaddr *)&closed, sizeof closed) == -1 && errno == ECONNREFUSED,
          "closed port not refused");
    CHECK(tapstack_close(fd2) == 0 && tapstack_close(fd) == 0, "close");
    CHECK(tapstack_close(fd) == -1 && errno == EBADF, "double close");
    printf("PASS tcp_client: %zu bytes echoed, closed port refused\n", got);
    return 0;
}
