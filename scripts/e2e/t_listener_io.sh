#!/usr/bin/env bash
# Reads and writes on a listening TCP socket fail as Linux's do: a read ENOTCONN (tcp_recvmsg in
# TCP_LISTEN), at once, blocking or not; a write EPIPE (sk_stream_wait_connect), with SIGPIPE
# unless MSG_NOSIGNAL. The stack's blocked the read (the socketpair under a listener carries its
# connection tokens) and took the write, which went nowhere; accept works on after them.
source "$(dirname "$0")/lib.sh"
setup listenio
out=$(onstack -- timeout 20 python3 -c "
import errno, os, signal, socket
def e(f):
    try:
        return repr(f())
    except OSError as x:
        return errno.errorcode[x.errno]
l = socket.socket(); l.bind(('0.0.0.0', 9800)); l.listen(4)
print('recv', e(lambda: l.recv(10)))
print('read', e(lambda: os.read(l.fileno(), 10)))
print('send', e(lambda: l.send(b'x', socket.MSG_NOSIGNAL)))
print('write', e(lambda: os.write(l.fileno(), b'x')))
signal.signal(signal.SIGPIPE, lambda *a: print('SIGPIPE'))
print('sendmsg', e(lambda: l.sendmsg([b'x'])))
c = socket.create_connection(('$STACK_IP', 9800))
a, _ = l.accept(); c.sendall(b'hi'); print('accepted', a.recv(10))
" 2>&1)
echo "$out"
[ "$out" = "recv ENOTCONN
read ENOTCONN
send EPIPE
write EPIPE
SIGPIPE
sendmsg EPIPE
accepted b'hi'" ] || fail "reads and writes on a listener"
echo "listener io: a listener's reads say ENOTCONN and its writes EPIPE (SIGPIPE), as on Linux"
