#!/usr/bin/env bash
# SO_ERROR of a TCP socket as Linux's: 0 after a non-blocking connect succeeds (epoll says
# writable); then, with the connection established, the kernel side answers our segments with ICMP
# host unreachable (nftables reject): the connection goes on (a soft error, RFC 1122 §4.2.3.9),
# and SO_ERROR reports EHOSTUNREACH once (Linux's sk_err_soft), then 0; with the rule gone, data
# flows again. The stack answers SO_ERROR without asking its service while no error can be
# pending, so this checks that a soft error still reaches it. Runs on the kernel too
# (E2E_KERNEL=1), which is where the expected answers come from.
source "$(dirname "$0")/lib.sh"
setup soerr
command -v nft >/dev/null || fail "nft is not installed (apt-get install nftables)"
cat > "$WORK/server.py" <<'PY'
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 9400))
l.listen(1)
l.settimeout(30)
c, _ = l.accept()
c.settimeout(30)
got = b""
while not got.endswith(b"end"):
    d = c.recv(4096)
    if not d:
        break
    got += d
c.sendall(b"got %d" % len(got))
c.close()
PY
inns timeout 40 python3 "$WORK/server.py" "$KERNEL_IP" > "$WORK/server.out" 2>&1 &
server=$!
wait_port "$KERNEL_IP" 9400
cat > "$WORK/prog.py" <<'PY'
import errno, os, select, socket, sys, time
ip, flag = sys.argv[1], sys.argv[2]
s = socket.socket()
s.setblocking(False)
assert s.connect_ex((ip, 9400)) == errno.EINPROGRESS
ep = select.epoll()
ep.register(s.fileno(), select.EPOLLOUT)
assert ep.poll(10), "the connect never ended"
e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
assert e == 0, f"SO_ERROR after the connect: {errno.errorcode.get(e, e)}"
print("ok connected, SO_ERROR 0", flush=True)
print("ready", flush=True)
for _ in range(100):
    if os.path.exists(flag):
        break
    time.sleep(0.1)
else:
    sys.exit("the reject rule never came")
s.setblocking(True)
s.send(b"x" * 100)
got = 0
for _ in range(50):
    time.sleep(0.1)
    got = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if got:
        break
assert got == errno.EHOSTUNREACH, f"SO_ERROR after ICMP host unreachable: {errno.errorcode.get(got, got)}"
again = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
assert again == 0, f"SO_ERROR read twice: {errno.errorcode.get(again, again)}"
print("ok SO_ERROR EHOSTUNREACH once, then 0", flush=True)
print("soft", flush=True)
while not os.path.exists(flag + ".gone"):
    time.sleep(0.1)
s.settimeout(20)
s.sendall(b"end")
answer = s.recv(100)
assert answer == b"got 103", f"after the rule went: {answer!r}"
print("ok the connection went on: the server got all 103 bytes", flush=True)
PY
onstack -- timeout 40 python3 "$WORK/prog.py" "$KERNEL_IP" "$WORK/flag" > "$WORK/prog.out" 2>&1 &
prog=$!
wait_line "$WORK/prog.out" ready "$prog" 15 "the program did not connect"
inns nft add table inet soerr
inns nft add chain inet soerr input '{ type filter hook input priority 0; }'
inns nft add rule inet soerr input ip daddr "$KERNEL_IP" tcp dport 9400 reject with icmp type host-unreachable
touch "$WORK/flag"
wait_line "$WORK/prog.out" soft "$prog" 15 "SO_ERROR did not report the soft error"
inns nft delete table inet soerr
touch "$WORK/flag.gone"
wait "$prog" || { cat "$WORK/prog.out"; fail "the program failed"; }
wait "$server" || { cat "$WORK/server.out"; fail "the server failed"; }
grep '^ok' "$WORK/prog.out"
echo "so_error: 0 after a connect, a soft error (EHOSTUNREACH) once then 0, and the connection went on"
