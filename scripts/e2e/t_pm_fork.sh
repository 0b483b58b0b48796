#!/usr/bin/env bash
# Process model: a stack socket shared by parent and child after fork. (1) The parent connects to
# the kernel-side echo peer and forks; the child reads the 4 MiB reply while the parent writes it;
# both ends exact (the peer's log has the sha256 of what it got). (2) One socket watched by epoll in
# both processes at once (each its own instance, and the instance made before fork): all see EPOLLIN
# when the reply arrives, and none once the parent has read it. (3) poll and select in the child over
# the inherited stack socket and a kernel pipe report exactly the one that is ready.
source "$(dirname "$0")/lib.sh"
setup pmfork
start_pm_peer
# Each part is tried even when one before it failed, and the failures are reported together.
failures=()
# Runs part NAME ($WORK/NAME.py) into $out; output goes through a file, so a stray child that
# outlives the part cannot hold the test up.
run_part() {
  local rc=0
  onstack -- timeout 15 python3 "$WORK/$1.py" "$KERNEL_IP" > "$WORK/$1.out" 2>&1 || rc=$?
  out=$(cat "$WORK/$1.out")
  return $rc
}

cat > "$WORK/forkrw.py" <<'PY'
import hashlib, os, signal, socket, sys
data = os.urandom(4 << 20)
s = socket.create_connection((sys.argv[1], 9000), timeout=8)
pid = os.fork()
if pid == 0:
    signal.alarm(10)  # a child never outlives its part
    got = bytearray()
    try:
        while len(got) < len(data):
            d = s.recv(65536)
            if not d:
                break
            got += d
    except OSError as e:
        print("child:", repr(e), flush=True)
        os._exit(2)
    os._exit(0 if bytes(got) == data else 3)
try:
    s.sendall(data)
except OSError as e:
    print("parent:", repr(e))
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
assert code == 0, f"child reading the reply exited {code}"
s.close()
print("sent", hashlib.sha256(data).hexdigest())
PY
if ! run_part forkrw; then
  failures+=("fork read/write: $out")
else
  sent=$(echo "$out" | awk '/^sent/ {print $2}')
  for _ in $(seq 20); do grep -q "^END echo $STACK_IP .* $((4 << 20)) $sent " "$WORK/peer.log" && break; sleep 0.1; done
  if grep -q "^END echo $STACK_IP [0-9]* eof $((4 << 20)) $sent " "$WORK/peer.log"; then
    echo "fork: the child read the 4 MiB reply while the parent wrote it, exact"
  else
    failures+=("the peer did not get the 4 MiB then EOF: $(cat "$WORK/peer.log")")
  fi
fi

cat > "$WORK/epoll2.py" <<'PY'
import os, select, signal, socket, sys
s = socket.create_connection((sys.argv[1], 9000), timeout=10)
shared = select.epoll(); shared.register(s, select.EPOLLIN)
to_child_r, to_child_w = os.pipe(); to_parent_r, to_parent_w = os.pipe()
pid = os.fork()
if pid == 0:
    signal.alarm(10)  # a child never outlives its part
    try:
        own = select.epoll(); own.register(s, select.EPOLLIN)
        os.write(to_parent_w, b"r")                      # watching
        seen = [own.poll(5), shared.poll(5)]
        ok = seen == [[(s.fileno(), select.EPOLLIN)]] * 2
        if not ok:
            print("child's epolls (own, made before fork) saw:", seen, flush=True)
        os.write(to_parent_w, b"y" if ok else b"n")
        os.read(to_child_r, 1)                           # the parent has read the reply
        after = own.poll(0.3)
        os.write(to_parent_w, b"y" if after == [] else b"n")
        os._exit(0 if ok and after == [] else 1)
    except Exception as e:
        print("child:", repr(e), flush=True)
        os._exit(2)
own = select.epoll(); own.register(s, select.EPOLLIN)
assert os.read(to_parent_r, 1) == b"r"
assert own.poll(0.2) == [], "readiness before any reply"
s.sendall(b"ping")
assert own.poll(5) == [(s.fileno(), select.EPOLLIN)], "parent's epoll missed the reply"
assert shared.poll(5) == [(s.fileno(), select.EPOLLIN)], "the epoll made before fork missed the reply (parent)"
assert os.read(to_parent_r, 1) == b"y", "the child's epolls missed the reply"
assert s.recv(4) == b"ping"
os.write(to_child_w, b"x")
assert own.poll(0.3) == [], "parent: still ready after reading"
assert os.read(to_parent_r, 1) == b"y", "child: still ready after the parent read"
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, f"child exited {os.waitstatus_to_exitcode(status)}"
print("epoll ok")
PY
if run_part epoll2; then
  echo "epoll: one socket watched in parent and child at once, both see it ready and not ready"
else
  failures+=("epoll in two processes: $out")
fi

cat > "$WORK/mixed.py" <<'PY'
import os, select, signal, socket, sys
s = socket.create_connection((sys.argv[1], 9000), timeout=10)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    signal.alarm(10)  # a child never outlives its part
    try:
        fd = s.fileno()
        assert select.select([s, r], [], [], 0.2)[0] == [], "select: ready with nothing sent"
        os.write(w, b"k")
        assert select.select([s, r], [], [], 5)[0] == [r], "select: the pipe alone"
        os.read(r, 1)
        s.sendall(b"abc")
        assert select.select([s, r], [], [], 5)[0] == [s], "select: the stack socket alone"
        p = select.poll(); p.register(fd, select.POLLIN); p.register(r, select.POLLIN)
        assert p.poll(5000) == [(fd, select.POLLIN)], "poll: the stack socket alone"
        assert s.recv(3) == b"abc"
        os.write(w, b"k")
        assert p.poll(5000) == [(r, select.POLLIN)], "poll: the pipe alone"
        os.read(r, 1)
        assert p.poll(200) == [], "poll: ready with nothing pending"
        s.close()
        os._exit(0)
    except Exception as e:
        print("child:", repr(e), flush=True)
        os._exit(1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, f"child exited {os.waitstatus_to_exitcode(status)}"
s.sendall(b"parent")
assert select.select([s, r], [], [], 5)[0] == [s] and s.recv(6) == b"parent", "parent: select after the child"
print("mixed ok")
PY
if run_part mixed; then
  echo "poll/select: mixed stack and kernel descriptors in a child after fork"
else
  failures+=("poll/select after fork: $out")
fi
[ ${#failures[@]} -eq 0 ] || fail "$(printf '\n  %s' "${failures[@]}")"
echo "pm fork: child reads while parent writes; epoll in two processes; poll/select over mixed descriptors in a child"
