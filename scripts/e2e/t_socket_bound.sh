#!/usr/bin/env bash
# The stack's bound on sockets (TAPSTACK_MAX_SOCKETS, here 12). A preloaded program with a
# listener connects to the kernel-side echo peer until a connect fails: ENOBUFS, as Linux's socket()
# says when it cannot allocate one; a UDP socket's first sendto too. The connections made still
# echo. A kernel-side client that connects meanwhile gets a SYN cookie (the stack holds nothing
# for it); once the program closes two connections (TIME-WAIT, which the bound recycles), the
# client's retransmission brings its connection in, accepted whole, and new connections work.
# Stack only.
source "$(dirname "$0")/lib.sh"
setup sockbound
start_pm_peer $((64 << 10))
cat > "$WORK/prog.py" <<'PY'
import errno, os, select, socket, subprocess, sys, time
ip, stack_ip = sys.argv[1], sys.argv[2]

def echo(s, data=b"x" * 1000):
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        d = s.recv(65536)
        assert d, "EOF before the echo"
        got += d
    assert got == data, "an echo differs"

lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("0.0.0.0", 9300))
lst.listen(8)
lst.settimeout(10)
held, err = [], None
for _ in range(100):
    try:
        held.append(socket.create_connection((ip, 9000), timeout=10))
    except OSError as e:
        err = e.errno
        break
assert err == errno.ENOBUFS, f"a connect past the bound gave {err and errno.errorcode[err]}"
print(f"ok a listener and {len(held)} connections, then ENOBUFS")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"x", (ip, 9000))
    raise AssertionError("a UDP socket was made past the bound")
except OSError as e:
    assert e.errno == errno.ENOBUFS, f"a UDP sendto past the bound gave {e}"
u.close()
print("ok a UDP socket's first sendto: ENOBUFS")
for s in held:
    echo(s)
print("ok every connection still echoes")

plain = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
client = subprocess.Popen([sys.executable, "-c", """
import socket, sys
s = socket.create_connection((sys.argv[1], 9300), timeout=20)
s.sendall(b"ping\\n")
print(s.makefile().readline().strip())
""", stack_ip], env=plain, stdout=subprocess.PIPE, text=True)
time.sleep(1)
assert not select.select([lst], [], [], 0)[0], "a connection was queued past the bound"
print("ok a connection past the bound is not held")
for s in held[-2:]:
    s.close()
del held[-2:]
c, _ = lst.accept()
c.settimeout(10)
assert c.makefile("rb").readline() == b"ping\n", "the client's line"
c.sendall(b"pong\n")
assert client.wait(timeout=10) == 0 and client.stdout.read().strip() == "pong", "the kernel-side client"
print("ok after two closes, the client's connection came in whole")
s = socket.create_connection((ip, 9000), timeout=10)
echo(s)
for s in held:
    echo(s)
print("PASS")
PY
TAPSTACK_MAX_SOCKETS=12 onstack -- timeout 60 python3 "$WORK/prog.py" "$KERNEL_IP" "$STACK_IP" > "$WORK/out" 2>&1 || true
cat "$WORK/out"
grep -qx PASS "$WORK/out" || fail "the bound on sockets: $(tail -n 3 "$WORK/out")"
echo "socket bound: ENOBUFS past TAPSTACK_MAX_SOCKETS, a SYN cookie instead of a queued connection, room again after closes"
