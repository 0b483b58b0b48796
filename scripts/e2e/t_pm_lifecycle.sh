#!/usr/bin/env bash
# Process model: the stack service's life. The first program starts it (no manual step); while a
# program holds an idle connection the service uses no CPU; once the last client is gone and nothing
# is left closing, it exits by itself after TAPSTACK_IDLE_EXIT. If the service dies under a program,
# the program's calls fail with a clear errno (not a hang) and stderr says why, once.
source "$(dirname "$0")/lib.sh"
setup pmlife
start_pm_peer

service_pids() { ns_pgrep "^tapstack service" || true; }
[ -z "$(service_pids)" ] || fail "a service runs before any program: $(service_pids)"

# A program with an idle connection: the service starts with it, and both sleep at no CPU cost.
onstack -- timeout 30 python3 -c "
import socket, time
s = socket.create_connection(('$KERNEL_IP', 9000), timeout=5)
s.sendall(b'hi'); assert s.recv(2) == b'hi'
open('$WORK/held', 'w').write('held\n')
time.sleep(4)
# An abortive close (RST): nothing is left in TIME-WAIT, which would keep the service 60 s more.
import struct
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
s.close()" > "$WORK/idle.out" 2>&1 &
holder=$!
for _ in $(seq 100); do [ -s "$WORK/held" ] && break; sleep 0.05; done
[ -s "$WORK/held" ] || fail "the program did not connect: $(cat "$WORK/idle.out")"
svc=$(service_pids)
[ -n "$svc" ] || fail "no service was started by the first program"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
t0=$(ticks "$svc")
sleep 2
t1=$(ticks "$svc")
[ $((t1 - t0)) -le 1 ] || fail "the idle service used $((t1 - t0)) clock ticks in 2 s"
wait "$holder" || fail "the idle program: $(cat "$WORK/idle.out")"

# With the last client gone and nothing left closing, the service exits after TAPSTACK_IDLE_EXIT
# (2 s by default). (A connection in FIN-WAIT or TIME-WAIT would keep it until that ends.)
start=$(date +%s%N)
for _ in $(seq 150); do kill -0 "$svc" 2>/dev/null || break; sleep 0.1; done
kill -0 "$svc" 2>/dev/null && fail "the service still runs 15 s after its last client"
gone_ms=$(( ($(date +%s%N) - start) / 1000000 ))

# The service dies under a program (SIGKILL): the program's next calls fail at once with ENETDOWN
# or end of file, never hang, and stderr says why once.
onstack -- timeout 30 python3 -c "
import errno, os, socket, subprocess, time
s = socket.create_connection(('$KERNEL_IP', 9000), timeout=5)
s.sendall(b'hi'); assert s.recv(2) == b'hi'
import select
l = socket.socket(); l.bind(('0.0.0.0', 9001)); l.listen(4); l.setblocking(False)
ep = select.epoll(); ep.register(l, select.EPOLLIN)
pid = subprocess.run(['pgrep', '--nslist', 'net', '--ns', str(os.getpid()), '-f', '^tapstack service'], capture_output=True, text=True).stdout.split()[0]
os.kill(int(pid), 9)
time.sleep(0.3)
t = time.monotonic()
try:
    assert s.recv(10) == b'', 'a read after the service died'
except OSError as e:
    assert e.errno in (errno.ENETDOWN, errno.ECONNABORTED), e
# A listener of the dead service polls readable (hung up) and its accept says EINVAL, as Linux's
# for a socket that listens no more, each time: not ECONNABORTED, after which an event loop (libuv's)
# takes the next connection, which never comes, and spins.
assert ep.poll(1), 'the dead listener did not poll readable'
for _ in range(2):
    try:
        l.accept()
        raise AssertionError('accepted')
    except OSError as e:
        assert e.errno == errno.EINVAL, e
# Calls on the dead service's socket: ENETDOWN, each time (a new socket may start a new service).
for _ in range(2):
    try:
        s.getpeername()
        raise AssertionError('no error')
    except OSError as e:
        assert e.errno == errno.ENETDOWN, e
assert time.monotonic() - t < 8, time.monotonic() - t
print('failed cleanly')" > "$WORK/dead.out" 2> "$WORK/dead.err" || fail "after the service died: $(cat "$WORK/dead.out" "$WORK/dead.err")"
grep -qx "failed cleanly" "$WORK/dead.out" || fail "after the service died: $(cat "$WORK/dead.out" "$WORK/dead.err")"
n=$(grep -c "^tapstack: " "$WORK/dead.err" || true)
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || fail "stderr after the service died said: $(cat "$WORK/dead.err")"
echo "pm lifecycle: started by the first program, 0 CPU while a connection idled, gone ${gone_ms} ms after its last client; a dead service gives clean errors, its listener EINVAL ($(head -1 "$WORK/dead.err"))"
