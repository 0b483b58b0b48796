#!/usr/bin/env bash
# Process model: a root program whose forked child drops privileges (as sshd's session child, a
# forking FTP or mail server's workers do) keeps using its stack sockets, and makes new ones: a
# service of root's serves every user, as the kernel does. What it no longer may do is what the
# kernel would refuse too: bind a port below ip_unprivileged_port_start without
# CAP_NET_BIND_SERVICE (EACCES), while root binds one.
source "$(dirname "$0")/lib.sh"
setup pmsetuid
start_pm_peer
out=$(onstack -- timeout 20 python3 -c "
import errno, os, socket
a = socket.create_connection(('$KERNEL_IP', 9000), timeout=10)
low = socket.socket()
low.bind(('0.0.0.0', 81))  # root may
low.close()
pid = os.fork()
if pid:
    _, status = os.waitpid(pid, 0)
    print('child exit', os.waitstatus_to_exitcode(status))
    raise SystemExit
os.setgroups([]); os.setgid(65534); os.setuid(65534)
print('peer', a.getpeername()[0])
a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
a.sendall(b'ping'); print('echo', a.recv(10))
b = socket.create_connection(('$KERNEL_IP', 9000), timeout=10)
b.sendall(b'pong'); print('new', b.recv(10))
s = socket.socket()
try:
    s.bind(('0.0.0.0', 80)); print('bind 80 allowed')
except OSError as e:
    print('bind 80', errno.errorcode[e.errno])
s.bind(('0.0.0.0', 8081)); print('bind 8081 ok')
" 2>&1)
expected="peer $KERNEL_IP
echo b'ping'
new b'pong'
bind 80 EACCES
bind 8081 ok
child exit 0"
[ "$out" = "$expected" ] || fail "after setuid: $out"
echo "pm setuid: a child that dropped root keeps its sockets and makes new ones; privileged ports stay root's"
