#!/usr/bin/env bash
# Process model: a UDP socket's corked datagram (MSG_MORE) neither hangs a child forked while
# another thread sends one, nor a signal handler that sends on the socket while the thread it
# interrupted was in the middle of a send (scripts/e2e/pm_cork.c, against a kernel-side sink).
source "$(dirname "$0")/lib.sh"
setup pmcork
build_c pm_cork
# Two sinks: 7990 takes part 1's datagrams; 7989 part 2's, counting each kind it got (it stops
# at the first quiet second once some came, or after 40 s).
inns timeout 60 python3 -c "
import collections, socket, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', 7990))
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); v.bind(('$KERNEL_IP', 7989))
v.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
threading.Thread(target=lambda: [u.recv(65536) for _ in iter(int, 1)], daemon=True).start()
print('ready', flush=True)
kinds = collections.Counter()
v.settimeout(40)
try:
    while True:
        kinds[v.recv(65536)] += 1
        v.settimeout(1)
except socket.timeout:
    pass
print('kinds', ' '.join('%s:%d' % (k.decode(errors='replace'), n) for k, n in sorted(kinds.items())), flush=True)
" > "$WORK/sink.out" 2>&1 &
sink=$!
wait_line "$WORK/sink.out" ready 50 $sink "the sink did not start"
onstack -- timeout 40 "$WORK/pm_cork" "$KERNEL_IP" > "$WORK/out" 2>&1 || true
grep -qx "PASS cork" "$WORK/out" || fail "$(cat "$WORK/out")"
wait $sink || true
kinds=$(grep '^kinds' "$WORK/sink.out" || true)
python3 - "$kinds" <<'PY' || fail "part 2's datagrams: $kinds"
import sys
got = dict(p.rsplit(':', 1) for p in sys.argv[1].split()[1:])
sys.exit(not got or not set(got) <= {'ab', 'hi', 'ahi', 'b'})
PY
echo "pm cork: 40 children forked beside a thread's corked sends sent their own; a signal handler's corked sends beside the main thread's did not hang, and made only Linux's datagrams (${kinds#kinds })"
