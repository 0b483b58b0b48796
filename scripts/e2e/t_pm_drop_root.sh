#!/usr/bin/env bash
# Process model: a server started as root that gives root up before its first socket (memcached's
# `-u`, mosquitto's `user`) still gets the stack, though it could no longer start the service (which
# opens the TAP with CAP_NET_ADMIN): the library starts it before the change of user and keeps it
# from exiting idle while the program lives. After the change the program's calls carry its new
# user, as the kernel's do: a privileged port is refused it.
source "$(dirname "$0")/lib.sh"
setup pmdrop
start_pm_peer
# No service runs yet; the program drops root, waits past the service's idle exit, then connects.
out=$(onstack -- timeout 20 python3 -c "
import encodings.idna, errno, os, socket, time  # (nobody may not read the modules later)
os.setgroups([]); os.setgid(65534); os.setuid(65534)
time.sleep(3)
a = socket.create_connection(('$KERNEL_IP', 9000), timeout=10)
print('peer', a.getpeername()[0], 'me', a.getsockname()[0])
a.sendall(b'ping'); print('echo', a.recv(10))
s = socket.socket()
try:
    s.bind(('0.0.0.0', 80)); print('bind 80 allowed')
except OSError as e:
    print('bind 80', errno.errorcode[e.errno])
" 2>&1 || true)
expected="peer $KERNEL_IP me $STACK_IP
echo b'ping'
bind 80 EACCES"
[ "$out" = "$expected" ] || fail "after dropping root first: $out"

# A real one: memcached -u nobody, which drops root before it listens, serves the kernel side.
if command -v memcached >/dev/null || [ -n "${CI:-}" ]; then
  onstack -- timeout 60 memcached -u nobody -l "$STACK_IP" -p 11211 -U 0 > "$WORK/memcached.log" 2>&1 &
  wait_port "$STACK_IP" 11211
  got=$(inns timeout 10 python3 -c "
import socket
c = socket.create_connection(('$STACK_IP', 11211), timeout=5)
c.sendall(b'set k 0 0 5\r\nhello\r\nget k\r\n')
buf = b''
while not buf.endswith(b'END\r\n'):
    d = c.recv(100)
    if not d: break
    buf += d
print(buf.decode().replace('\r\n', '|'))
")
  [ "$got" = "STORED|VALUE k 0 5|hello|END|" ] || fail "memcached -u nobody answered: $got ($(cat "$WORK/memcached.log"))"
  owner=$(ps -o user= -C memcached | sort -u | tr '\n' ' ')
  case "$owner" in *nobody*) ;; *) fail "memcached runs as $owner, not nobody" ;; esac
fi
echo "pm drop root: a program that gives root up before its first socket gets the stack (python, memcached -u nobody); its calls then carry its new user"
