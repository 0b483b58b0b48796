#!/usr/bin/env bash
# The stack service out of descriptors (it holds one end of every stack socket's socketpair). With
# its RLIMIT_NOFILE lowered on the running service (prlimit), a preloaded program connects until a
# connect fails: ENFILE, as Linux says when it cannot allocate a socket. Meanwhile the service keeps
# serving: every connection made still echoes, calls on them (getpeername) are answered; an accept
# fails with ENFILE and leaves the connection queued; a new program's first call gets ENFILE, not
# a hang. Once connections are closed, the service recovers: the queued connection is accepted
# whole, new connections and new programs work. Stack only (it is about the service).
source "$(dirname "$0")/lib.sh"
setup svcfds
start_pm_peer $((64 << 10))
cat > "$WORK/prog.py" <<'PY'
import errno, os, resource, select, socket, subprocess, sys, time
ip, stack_ip = sys.argv[1], sys.argv[2]

def echo(s, data=b"x" * 1000):
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        d = s.recv(65536)
        assert d, "EOF before the echo"
        got += d
    assert got == data, "an echo differs"

held = [socket.create_connection((ip, 9000), timeout=10)]
lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("0.0.0.0", 9200))
lst.listen(8)
lst.settimeout(10)
svc = subprocess.run(["pgrep", "--nslist", "net", "--ns", str(os.getpid()), "-f", "^tapstack service"],
                     capture_output=True, text=True).stdout.split()
assert len(svc) == 1, f"service processes: {svc}"
svc = int(svc[0])
limit = len(os.listdir(f"/proc/{svc}/fd")) + 40
resource.prlimit(svc, resource.RLIMIT_NOFILE, (limit, limit))
print(f"the service (pid {svc}) may now hold {limit} descriptors")

# Connect until three in a row fail (a connect may find room again once those still under way
# finish and give back what they held).
failures = 0
for _ in range(300):
    try:
        held.append(socket.create_connection((ip, 9000), timeout=10))
        failures = 0
    except OSError as e:
        assert e.errno == errno.ENFILE, f"a connect past the service's limit gave {e}"
        failures += 1
        if failures == 3:
            break
assert failures == 3, f"{len(held)} connections and no three ENFILE in a row"
print(f"ok {len(held)} connections, then ENFILE")
# A non-blocking connect: under way at once, then failed with ENFILE in SO_ERROR.
nb = socket.socket()
nb.setblocking(False)
r = nb.connect_ex((ip, 9000))
if r == errno.EINPROGRESS:
    select.select([], [nb], [], 5)
    r = nb.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
assert r == errno.ENFILE, f"a non-blocking connect with the service full gave {r}"
nb.close()
print("ok a non-blocking connect: ENFILE")
for s in held:
    echo(s)
    assert s.getpeername() == (ip, 9000), s.getpeername()
print("ok every connection still echoes and answers getpeername")

# A connection arrives at the listener while the service is full.
plain = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
client = subprocess.Popen([sys.executable, "-c", """
import socket, sys
s = socket.create_connection((sys.argv[1], 9200), timeout=20)
s.sendall(b"ping\\n")
print(s.makefile().readline().strip())
""", stack_ip], env=plain, stdout=subprocess.PIPE, text=True)
assert select.select([lst], [], [], 10)[0], "the listener never became readable"
for _ in range(3):
    try:
        lst.accept()
        raise AssertionError("an accept succeeded with the service full")
    except OSError as e:
        assert e.errno == errno.ENFILE, f"an accept with the service full gave {e}"
assert select.select([lst], [], [], 0)[0], "the connection left the queue"
print("ok accept: ENFILE, the connection still queued")

# A new program: its first call fails at once with ENFILE, blocking or not. Programs that stay
# (squatters) first take whatever descriptors are left, so the next one's control connection finds
# none and is accepted on a spare just to be told ENFILE.
def free_numbers():
    return limit - sum(1 for f in os.listdir(f"/proc/{svc}/fd") if int(f) < limit)

squatters = []
for _ in range(5):
    if free_numbers() == 0:
        break
    squatters.append(subprocess.Popen([sys.executable, "-c", """
import socket, sys, time
try:
    socket.create_connection((sys.argv[1], 9000), timeout=5)
    print("connected", flush=True)
except OSError as e:
    print(e.errno, flush=True)
time.sleep(60)
""", ip], stdout=subprocess.PIPE, text=True))
    squatters[-1].stdout.readline()
assert free_numbers() == 0, f"{free_numbers()} descriptors still free in the service"
t0 = time.monotonic()
r = subprocess.run([sys.executable, "-c", """
import errno, select, socket, sys
try:
    socket.create_connection((sys.argv[1], 9000), timeout=5)
    print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
s = socket.socket()
s.setblocking(False)
r = s.connect_ex((sys.argv[1], 9000))
if r == errno.EINPROGRESS:
    select.select([], [s], [], 5)
    r = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
print(errno.errorcode.get(r, r))
""", ip], capture_output=True, text=True, timeout=30)
assert r.stdout.split() == ["ENFILE", "ENFILE"], f"a new program said {r.stdout!r} {r.stderr!r}"
print(f"ok a new program: ENFILE (blocking and non-blocking connects) in {time.monotonic() - t0:.2f} s")

# Descriptors free again: the service recovers.
for p in squatters:
    p.kill()
    p.wait()
for s in held[-10:]:
    s.close()
del held[-10:]
for i in range(100):
    try:
        c, peer = lst.accept()
        break
    except OSError as e:
        assert e.errno == errno.ENFILE, f"an accept after closing gave {e}"
        time.sleep(0.05)
else:
    raise AssertionError("the service did not recover within 5 s")
c.settimeout(10)
assert c.makefile("rb").readline() == b"ping\n", "the queued connection's line"
c.sendall(b"pong\n")
assert client.wait(timeout=10) == 0 and client.stdout.read().strip() == "pong", "the kernel-side client"
print(f"ok once 10 connections closed, the queued connection was accepted whole (after {i} ENFILE)")
for _ in range(5):
    s = socket.create_connection((ip, 9000), timeout=10)
    echo(s)
    s.close()
for s in held:
    echo(s)
r = subprocess.run([sys.executable, "-c", """
import socket, sys
s = socket.create_connection((sys.argv[1], 9000), timeout=5)
s.sendall(b"hi"); assert s.recv(2) == b"hi"
print("connected")
""", ip], capture_output=True, text=True, timeout=30)
assert r.stdout.strip() == "connected", f"a new program after recovery said {r.stdout!r} {r.stderr!r}"
print("ok new connections and a new program after recovery")
print("PASS")
PY
TAPSTACK_LOG=warn,tapstack::service::server=debug TAPSTACK_SERVICE_LOG="$WORK/service.log" onstack -- timeout 90 python3 "$WORK/prog.py" "$KERNEL_IP" "$STACK_IP" > "$WORK/out" 2>&1 || true
cat "$WORK/out"
grep -e WARN -e refused "$WORK/service.log" | cut -c 23- | sort | uniq -c
grep -qx PASS "$WORK/out" || fail "the service out of descriptors: $(tail -n 3 "$WORK/out")"
grep -q "a new client was refused (ENFILE)" "$WORK/service.log" || fail "no new client met a full table"
echo "service fds: ENFILE for new sockets and clients while full, serving the rest; recovered once freed"
