#!/usr/bin/env bash
# Two ends a program meets that no normal run shows. (1) Socket calls from an atexit handler: glibc
# runs the main thread's thread-local destructors before the handlers (socat's exit handler shuts
# its sockets down), and the calls must answer as the kernel's (getsockname, shutdown, close of a
# listener, gethostbyname), not panic inside the library. (2) The stack service killed while a
# program downloads: its next read must fail with ENETDOWN, as the README promises, not read a
# clean end of file that passes a cut stream off as whole (socat exited 0 with a truncated file).
source "$(dirname "$0")/lib.sh"
setup exitpaths
cat > "$WORK/atexit.c" <<'C'
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static int lfd;
static void at_exit(void) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    int r = getsockname(lfd, (struct sockaddr *)&a, &l);
    printf("getsockname %d %s port %d\n", r, r ? strerror(errno) : "-", ntohs(a.sin_port));
    r = shutdown(lfd, SHUT_RDWR);
    printf("shutdown %d %s\n", r, r ? strerror(errno) : "-");
    struct hostent *h = gethostbyname("10.77.0.1");
    printf("gethostbyname %s\n", h ? "found" : "none");
    printf("close %d\n", close(lfd));
    fflush(stdout);
}
int main(void) {
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7777)};
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 5)) {
        perror("bind/listen");
        return 1;
    }
    atexit(at_exit);
    return 0;
}
C
cc -O1 -o "$WORK/atexit" "$WORK/atexit.c" || fail "cc atexit.c"
inns timeout 10 "$WORK/atexit" > "$WORK/kernel.out" 2>&1 || fail "on the kernel: $(cat "$WORK/kernel.out")"
onstack -- timeout 10 "$WORK/atexit" > "$WORK/stack.out" 2>&1 || fail "on the stack: $(cat "$WORK/stack.out")"
diff "$WORK/kernel.out" "$WORK/stack.out" >&2 || fail "the atexit handler's calls differ from the kernel's"
grep -q "shutdown 0" "$WORK/stack.out" || fail "atexit: $(cat "$WORK/stack.out")"

if [ -n "$E2E_KERNEL" ]; then
  echo "exit paths: an atexit handler's socket calls (the kernel has no service to kill)"
  exit 0
fi
# (2) A peer that sends 1 MiB every 100 ms and never closes.
inns timeout 60 python3 -c "
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 9000)); l.listen(1)
c, _ = l.accept()
while True:
    c.sendall(b'x' * (1 << 20)); time.sleep(0.1)
" > /dev/null 2>&1 &
wait_port "$KERNEL_IP" 9000
onstack -- timeout 30 python3 -c "
import socket, sys
s = socket.create_connection(('$KERNEL_IP', 9000))
got = 0
try:
    while True:
        d = s.recv(1 << 16)
        if not d:
            print('end of file after', got, 'bytes'); sys.exit(0)
        got += len(d)
        if got >= 3 << 20:
            print('reading', flush=True)
except OSError as e:
    print('error:', e.strerror, 'after', got, 'bytes')
" > "$WORK/reader.out" 2> "$WORK/reader.err" &
reader=$!
for _ in $(seq 100); do grep -q reading "$WORK/reader.out" 2>/dev/null && break; sleep 0.1; done
grep -q reading "$WORK/reader.out" || fail "the download did not start: $(cat "$WORK/reader.out" "$WORK/reader.err")"
svc=$(ns_pgrep "tapstack service") || fail "no service"
kill -KILL $svc
wait $reader || true
last=$(grep -v reading "$WORK/reader.out" | tail -1)
case $last in
  "error: Network is down after"*) ;;
  *) fail "after the service was killed the reader saw: $last" ;;
esac
echo "exit paths: an atexit handler's socket calls as the kernel's; a download whose service was killed reads ENETDOWN (${last#error: })"
