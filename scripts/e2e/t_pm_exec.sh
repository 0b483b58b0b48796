#!/usr/bin/env bash
# Process model: stack sockets across exec. (1) A preloaded python connects to the kernel-side peer
# that sends a 4 MiB blob, then execs `sh -c 'exec cat <&FD'`: cat's output is the blob exactly, and
# the peer sees the FIN when cat exits. (2) A preloaded python connects to the echo peer and execs a
# new python that uses the inherited descriptor both ways: 1 MiB sent and echoed exact. (3) Of two
# connections, the close-on-exec one is gone after exec (EBADF, and the peer sees its FIN within two
# seconds), the inheritable one still works.
source "$(dirname "$0")/lib.sh"
setup pmexec
start_pm_peer
failures=()
sha() { sha256sum < "$1" | cut -d' ' -f1; }

# (1) exec cat on the descriptor.
onstack -- timeout 15 python3 -c "
import os, socket
s = socket.create_connection(('$KERNEL_IP', 9002), timeout=10)
s.setblocking(True)
fd = s.fileno(); os.set_inheritable(fd, True)
os.execvp('sh', ['sh', '-c', 'exec cat <&%d' % fd])" > "$WORK/cat.got" 2> "$WORK/cat.err" || true
if [ "$(sha "$WORK/cat.got")" = "$(sha "$WORK/blob")" ]; then
  for _ in $(seq 20); do grep -q "^END give " "$WORK/peer.log" && break; sleep 0.1; done
  if grep -q "^END give $STACK_IP [0-9]* eof " "$WORK/peer.log"; then echo "exec cat: the 4 MiB blob exact, then FIN"
  else failures+=("exec cat: the peer did not see the FIN: $(grep give "$WORK/peer.log")"); fi
else
  failures+=("exec cat: got $(stat -c %s "$WORK/cat.got") bytes, not the blob's $(stat -c %s "$WORK/blob"): $(cat "$WORK/cat.err")")
fi

# (2) exec a program that uses the descriptor both ways.
cat > "$WORK/both.py" <<'PY'
import os, socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
s.settimeout(10)
data = os.urandom(1 << 20)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    d = s.recv(65536)
    if not d:
        break
    got += d
assert bytes(got) == data, "the echo after exec differs: %d bytes" % len(got)
print("exec both ways ok")
PY
# (Output goes through files, not $(…): a stack service that lingers must not hold the test up.)
onstack -- timeout 15 python3 -c "
import os, socket, sys
s = socket.create_connection(('$KERNEL_IP', 9000), timeout=10)
fd = s.fileno(); os.set_inheritable(fd, True)
os.execvp(sys.executable, [sys.executable, '$WORK/both.py', str(fd)])" > "$WORK/both.out" 2>&1 || true
out=$(cat "$WORK/both.out")
if [ "$out" = "exec both ways ok" ]; then
  echo "exec: 1 MiB both ways on the inherited descriptor, exact"
else
  failures+=("exec both ways: $out")
fi

# (3) close-on-exec.
cat > "$WORK/after.py" <<'PY'
import errno, fcntl, socket, sys, time
ip, gone, kept, gone_port, kept_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
try:
    fcntl.fcntl(gone, fcntl.F_GETFD)
    sys.exit("the close-on-exec descriptor %d is still open after exec" % gone)
except OSError as e:
    assert e.errno == errno.EBADF, e
ctl = socket.create_connection((ip, 9009), timeout=10).makefile("rwb")
def state(port):
    ctl.write(b"STATE %s\n" % port.encode()); ctl.flush()
    return ctl.readline().decode().split()
deadline = time.monotonic() + 2
while state(gone_port)[0] == "open" and time.monotonic() < deadline:
    time.sleep(0.05)
assert state(gone_port)[0] == "eof", "the close-on-exec connection did not end at exec: %s" % state(gone_port)
assert state(kept_port) == ["open"], "the inherited connection: %s" % state(kept_port)
k = socket.socket(fileno=kept)
k.settimeout(10)
k.sendall(b"kept"); assert k.recv(4) == b"kept", "the inherited connection does not echo"
print("cloexec ok")
PY
onstack -- timeout 15 python3 -c "
import os, socket, sys
gone = socket.create_connection(('$KERNEL_IP', 9000), timeout=10)   # close-on-exec, as python makes it
kept = socket.create_connection(('$KERNEL_IP', 9000), timeout=10)
os.set_inheritable(kept.fileno(), True)
assert os.get_inheritable(gone.fileno()) is False
gone.sendall(b'x'); assert gone.recv(1) == b'x'
os.execvp(sys.executable, [sys.executable, '$WORK/after.py', '$KERNEL_IP', str(gone.fileno()), str(kept.fileno()),
                           str(gone.getsockname()[1]), str(kept.getsockname()[1])])" > "$WORK/cloexec.out" 2>&1 || true
out=$(cat "$WORK/cloexec.out")
if [ "$out" = "cloexec ok" ]; then
  echo "exec: the close-on-exec connection ended at exec, the other survived"
else
  failures+=("close-on-exec: $out")
fi

[ ${#failures[@]} -eq 0 ] || fail "$(printf '\n  %s' "${failures[@]}")"
echo "pm exec: sockets survive exec (cat on the descriptor, both ways), close-on-exec ones end there"
