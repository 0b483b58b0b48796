#!/usr/bin/env bash
# A blocking connect interrupted by a signal (no SA_RESTART) and called again, as glibc's
# TEMP_FAILURE_RETRY(connect(...)) does: Linux's second connect waits for the handshake under way
# (__inet_stream_connect) and succeeds. The kernel side drops SYNs for the first 1.5 s, so the
# handshake takes a retransmission or two while SIGALRM interrupts the connect every 0.3 s.
source "$(dirname "$0")/lib.sh"
setup eintr
cat > "$WORK/c.c" <<'C'
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
static void tick(int s) { (void)s; }
int main(void) {
    struct sigaction sa = {.sa_handler = tick}; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, 0);
    struct itimerval it = {{0, 300000}, {0, 300000}};
    setitimer(ITIMER_REAL, &it, 0);
    int s = socket(AF_INET, SOCK_STREAM, 0), r, eintr = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9000)};
    inet_pton(AF_INET, "10.77.0.1", &a.sin_addr);
    while ((r = connect(s, (struct sockaddr *)&a, sizeof a)) == -1 && errno == EINTR)
        eintr++;
    printf("connect %s after %d EINTR\n", r ? strerror(errno) : "ok", eintr);
    return r != 0;
}
C
cc -O1 -o "$WORK/c" "$WORK/c.c" || fail "cc"
inns timeout 15 python3 -c "
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 9000)); l.listen(); time.sleep(12)" &
wait_port "$KERNEL_IP" 9000
inns nft add table ip eintr
inns nft add chain ip eintr in '{ type filter hook input priority 0; }'
inns nft add rule ip eintr in tcp dport 9000 tcp flags syn drop
(sleep 1.5; inns nft delete table ip eintr) &
onstack -- timeout 15 "$WORK/c" > "$WORK/c.out" 2>&1 || fail "the connect: $(cat "$WORK/c.out")"
wait
grep -q "^connect ok after [1-9]" "$WORK/c.out" || fail "$(cat "$WORK/c.out")"
echo "connect retried after EINTR: $(cat "$WORK/c.out")"
