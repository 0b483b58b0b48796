#!/usr/bin/env bash
# The socket API through the stack, call by call against the Linux kernel: runs
# c-tests/sockapi_conform.c twice, once preloaded (`tapstack run`) in a namespace with tap0, once
# on the kernel's own sockets in the "-s" namespace of a veth pair (the same addresses: the peer
# on 10.77.0.1, the program on 10.77.0.2), and prints every line that differs, both versions.
# Exits non-zero on any difference not listed in c-tests/sockapi_conform.known (with its reason),
# or if either run did not finish.
#
#   scripts/sockapi_conform.sh            build the stack and the program, run both, diff
#   KEEP=DIR scripts/sockapi_conform.sh   also keep both outputs (stack.out, kernel.out) in DIR
#   SOCKAPI_ONLY=N scripts/sockapi_conform.sh   check N alone (while working on it)
#
# TAPSTACK_BIN=PATH runs another build of tapstack (libtapstack.so beside it). Needs root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TAPSTACK_BIN:-$ROOT/target/release/tapstack}
KERNEL_IP=10.77.0.1 STACK_IP=10.77.0.2
NS="api-$$"
WORK=$(mktemp -d)

cleanup() {
  local rc=$?
  # Everything started in a namespace goes with it.
  bash "$ROOT/scripts/netns.sh" delete "$NS" || true
  bash "$ROOT/scripts/netns.sh" delete "$NS-s" || true
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${TAPSTACK_BIN:-}" ]; then (cd "$ROOT" && cargo build --release --quiet); fi
cc -Wall -Werror -O1 -I"$ROOT/c-tests" -o "$WORK/sockapi_conform" "$ROOT/c-tests/sockapi_conform.c"

# The kernel-side peer (see the program's header comment for the ports).
cat > "$WORK/peer.py" <<'PY'
import socket, sys, threading, time
ip = sys.argv[1]
recorded, active, lock = [], [0], threading.Condition()

def listen(port, serve):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((ip, port)); l.listen(64)
    def loop():
        while True:
            c, a = l.accept()
            threading.Thread(target=serve, args=(c, a), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()

def drain(c):
    c.settimeout(10)
    try:
        while c.recv(65536): pass
    except OSError: pass

def echo(c, a):
    c.settimeout(10)
    try:
        while True:
            d = c.recv(65536)
            if not d:
                # A moment before closing in turn: calls right after the program's own
                # shutdown (a second SHUT_WR) then meet a connection still half-open on both
                # targets, rather than racing this FIN.
                time.sleep(0.05)
                break
            c.sendall(d)
    except OSError: pass
    c.close()

def sender(c, a):
    c.sendall(b'0123456789abcdefghij'); drain(c); c.close()

def recorder(c, a):
    with lock: active[0] += 1
    got = b''
    c.settimeout(5)
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            got += d
    except OSError: pass
    c.close()
    with lock:
        recorded.append(got); active[0] -= 1; lock.notify_all()

def report(c, a):
    with lock:
        lock.wait_for(lambda: active[0] == 0, timeout=6)
        out = b'|'.join(recorded) if recorded else b'<nothing>'
        recorded.clear()
    c.sendall(out); c.close()

def callback(c, a):
    c.settimeout(10)
    port = int(c.makefile().readline())
    try:
        k = socket.create_connection((a[0], port), timeout=5)
    except OSError:
        c.close(); return
    drain(c); k.close(); c.close()

held = []

def hold(c, a):
    # Reads nothing until a connection to 9006 says so (or 15 s pass), then drains.
    ev = threading.Event()
    with lock: held.append(ev)
    ev.wait(15)
    drain(c); c.close()

def release(c, a):
    with lock:
        for ev in held: ev.set()
        held.clear()
    c.close()

listen(9000, echo); listen(9001, sender); listen(9002, recorder); listen(9003, report)
listen(9004, callback); listen(9005, hold); listen(9006, release)
print('ready', flush=True)
time.sleep(600)
PY

wait_peer() {
  local end=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$end" ]; do
    [ "$(ip netns exec "$NS" ss -Hltn "src $KERNEL_IP" | wc -l)" -ge 7 ] && return 0
    sleep 0.1
  done
  echo "the peer did not start" >&2; return 1
}

# run_stack OUT: the program preloaded through the stack, in $NS with tap0.
run_stack() {
  bash "$ROOT/scripts/netns.sh" create "$NS"
  ip netns exec "$NS" timeout 300 python3 "$WORK/peer.py" "$KERNEL_IP" > "$WORK/peer-stack.log" 2>&1 &
  wait_peer
  ip netns exec "$NS" timeout 300 "$BIN" run -- "$WORK/sockapi_conform" > "$1" 2> "$WORK/stack.err" \
    || echo "exit status $?" >> "$1"
  bash "$ROOT/scripts/netns.sh" delete "$NS"
}

# run_kernel OUT: the program on the kernel's sockets, in $NS-s, over a veth to $NS.
run_kernel() {
  bash "$ROOT/scripts/netns.sh" reference "$NS"
  ip netns exec "$NS" timeout 300 python3 "$WORK/peer.py" "$KERNEL_IP" > "$WORK/peer-kernel.log" 2>&1 &
  wait_peer
  ip netns exec "$NS-s" timeout 300 "$WORK/sockapi_conform" > "$1" 2> "$WORK/kernel.err" \
    || echo "exit status $?" >> "$1"
  bash "$ROOT/scripts/netns.sh" delete "$NS"
  bash "$ROOT/scripts/netns.sh" delete "$NS-s"
}

run_stack "$WORK/stack.out"
run_kernel "$WORK/kernel.out"
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$WORK"/*.out "$WORK"/*.err "$KEEP"/; fi

# Both outputs hold the same numbered lines unless a check ended early: pair them by number.
# Lines in c-tests/sockapi_conform.known differ knowingly (each says why): shown, not failed on.
python3 - "$WORK/kernel.out" "$WORK/stack.out" "$ROOT/c-tests/sockapi_conform.known" <<'PY'
import sys
known = {}
for l in open(sys.argv[3]):
    if l.strip() and not l.startswith('#'):
        k, _, why = l.strip().partition(' ')
        known[k] = why
def lines(path):
    out = {}
    for l in open(path, errors='replace'):
        l = l.rstrip('\n')
        key = l.split(' ', 1)[0]
        out.setdefault(key, []).append(l)
    return out
kernel, stack = lines(sys.argv[1]), lines(sys.argv[2])
keys = list(kernel) + [k for k in stack if k not in kernel]
diffs = 0
for k in keys:
    a, b = kernel.get(k, []), stack.get(k, [])
    if a == b and k in known:
        print(f'  {k} now matches the kernel: take it out of sockapi_conform.known')
    if a != b and k in known:
        print(f'  known: {b[0] if b else k} ({known[k]})')
    elif a != b:
        diffs += 1
        for l in a: print('  kernel: ' + l)
        for l in b: print('  stack:  ' + l)
        if not a: print('  kernel: (no such line)')
        if not b: print('  stack:  (no such line)')
total = sum(len(v) for v in kernel.values())
print(f'sockapi_conform: {total} kernel lines, {diffs} differ beyond the {len(known)} known')
sys.exit(1 if diffs else 0)
PY
