#!/usr/bin/env bash
# Socket options an unprivileged program may and may not set, as Linux's sock_setsockopt checks
# them: a program that gave root up gets EPERM for SO_MARK, SO_PRIORITY beyond 6 and
# SO_RCVBUFFORCE, EACCES for SO_DEBUG on, and may set and read back SO_PRIORITY up to 6, any
# SO_BUSY_POLL and SO_DEBUG off (the stack took SO_MARK, SO_PRIORITY and SO_BUSY_POLL from anyone
# and read them back as nothing, and refused SO_DEBUG on a connected socket with ENOPROTOOPT).
# E2E_KERNEL=1 runs it on the kernel's sockets.
source "$(dirname "$0")/lib.sh"
setup sockopt_user
start_pm_peer 1000
# The system's python, which nobody can read.
out=$(onstack -- timeout 10 /usr/bin/python3 -c "
import os, socket, errno
os.setgid(65534); os.setuid(65534)
s = socket.socket(); s.connect(('$KERNEL_IP', 9000))
for name, opt, v in (('SO_MARK', socket.SO_MARK, 1), ('SO_PRIORITY 6', socket.SO_PRIORITY, 6),
                     ('SO_PRIORITY 7', socket.SO_PRIORITY, 7), ('SO_BUSY_POLL 5', 46, 5),
                     ('SO_RCVBUFFORCE', 33, 4096), ('SO_DEBUG 1', socket.SO_DEBUG, 1),
                     ('SO_DEBUG 0', socket.SO_DEBUG, 0)):
    try:
        s.setsockopt(socket.SOL_SOCKET, opt, v)
        print(name, 'ok', s.getsockopt(socket.SOL_SOCKET, opt))
    except OSError as e:
        print(name, errno.errorcode[e.errno])
# A value shorter than an int is EINVAL before any permission is looked at (sk_setsockopt).
for name, opt in (('SO_PRIORITY 7 in one byte', socket.SO_PRIORITY), ('SO_MARK in one byte', socket.SO_MARK)):
    try:
        s.setsockopt(socket.SOL_SOCKET, opt, bytes([7]))
        print(name, 'ok', s.getsockopt(socket.SOL_SOCKET, opt))
    except OSError as e:
        print(name, errno.errorcode[e.errno])
" 2>&1) || fail "the program: $out"
expected="SO_MARK EPERM
SO_PRIORITY 6 ok 6
SO_PRIORITY 7 EPERM
SO_BUSY_POLL 5 ok 5
SO_RCVBUFFORCE EPERM
SO_DEBUG 1 EACCES
SO_DEBUG 0 ok 0
SO_PRIORITY 7 in one byte EINVAL
SO_MARK in one byte EINVAL"
[ "$out" = "$expected" ] || fail "$(diff <(echo "$expected") <(echo "$out"))"
echo "sockopt user: without root, SO_MARK, SO_PRIORITY 7 and SO_RCVBUFFORCE are EPERM, SO_DEBUG on EACCES; SO_PRIORITY 6, SO_BUSY_POLL and SO_DEBUG off read back as set; a one-byte value is EINVAL"
