#!/usr/bin/env bash
# IP_FREEBIND (unbound's ip-freebind, a server starting before its address is up): a bind to an
# address not ours is taken, as Linux's inet_bind takes it then, and the socket bound so hears
# nothing sent to ours, while a socket on our address and the same port does. The stack kept the
# option and still refused the bind with EADDRNOTAVAIL. E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
setup freebind
cat > "$WORK/server.py" <<'PY'
import errno, select, socket
IP_FREEBIND = 15
def bound(ty, ip, port, freebind):
    s = socket.socket(socket.AF_INET, ty)
    if freebind:
        s.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    try:
        s.bind((ip, port))
    except OSError as e:
        return None, errno.errorcode[e.errno]
    return s, 'ok'
print('without: bind', bound(socket.SOCK_STREAM, '10.77.0.99', 7003, False)[1])
far, r1 = bound(socket.SOCK_STREAM, '10.77.0.99', 7003, True)
near, r2 = bound(socket.SOCK_STREAM, '10.77.0.2', 7003, False)
ufar, r3 = bound(socket.SOCK_DGRAM, '10.77.0.99', 7004, True)
unear, r4 = bound(socket.SOCK_DGRAM, '10.77.0.2', 7004, False)
print('freebind tcp', r1, 'ours', r2, 'udp', r3, 'ours', r4)
print('name', far.getsockname()[0], ufar.getsockname()[0])
# No route leaves from an address not ours (only IP_TRANSPARENT's would): ENETUNREACH.
out, r5 = bound(socket.SOCK_STREAM, '10.77.0.99', 7005, True)
try:
    out.connect(('10.77.0.1', 9))
    print('connect from it ok')
except OSError as e:
    print('connect from it', errno.errorcode[e.errno])
far.listen(4)
near.listen(4)
print('listening', flush=True)
names = {far: 'tcp far', near: 'tcp ours', ufar: 'udp far', unear: 'udp ours'}
heard = []
while len(heard) < 2:
    ready, _, _ = select.select(list(names), [], [], 10)
    if not ready:
        break
    for s in ready:
        heard.append(names[s])
        if s.type == socket.SOCK_STREAM:
            s.accept()[0].close()
        else:
            s.recv(100)
print('heard', ' '.join(sorted(heard)), flush=True)
PY
onstack -- timeout 60 python3 "$WORK/server.py" > "$WORK/server.out" 2>&1 &
server=$!
wait_line "$WORK/server.out" listening $server 10 "the server did not start"
inns timeout 10 python3 -c "
import socket
socket.create_connection(('10.77.0.2', 7003), timeout=5).close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b'x', ('10.77.0.2', 7004))
"
wait "$server" || true
out=$(grep -v '^listening$' "$WORK/server.out")
echo "$out"
expected="without: bind EADDRNOTAVAIL
freebind tcp ok ours ok udp ok ours ok
name 10.77.0.99 10.77.0.99
connect from it ENETUNREACH
heard tcp ours udp ours"
[ "$out" = "$expected" ] || fail "expected:
$expected"
echo "freebind: a bind to an address not ours with IP_FREEBIND, reached by nothing sent to ours, as on Linux"
