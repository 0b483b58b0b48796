#!/usr/bin/env bash
# recv(MSG_TRUNC) on a TCP socket takes the bytes without copying them, as Linux's tcp_recvmsg
# does (HAProxy drains a connection so, with no buffer at all): the stack's said EFAULT, the
# socketpair under it copying into the NULL buffer.
source "$(dirname "$0")/lib.sh"
setup tcptrunc
start_pm_peer
out=$(onstack -- timeout 20 python3 -c "
import ctypes, socket, time
libc = ctypes.CDLL(None, use_errno=True)
s = socket.create_connection(('$KERNEL_IP', 9000))
s.sendall(b'x' * 1000); time.sleep(0.3)
n = libc.recv(s.fileno(), None, 600, socket.MSG_TRUNC | socket.MSG_DONTWAIT)
print('drained', n if n >= 0 else 'errno %d' % ctypes.get_errno())
s.settimeout(2)
print('left', len(s.recv(2000)))
" 2>&1)
echo "$out"
[ "$out" = "drained 600
left 400" ] || fail "recv(MSG_TRUNC) on TCP"
echo "tcp trunc: recv(MSG_TRUNC) with no buffer drains the bytes, as on Linux"
