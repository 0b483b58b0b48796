#!/usr/bin/env bash
# getnameinfo of an address no name server could be asked about (no TAPSTACK_DNS; on the kernel,
# a resolv.conf server the namespace cannot reach) fails with EAI_AGAIN whether a name is required
# or not, as glibc's does; only NI_NUMERICHOST gives the number. The stack's used to give the
# number without NI_NAMEREQD, so postgres's log_hostname logged a client the kernel logs as "???".
# E2E_KERNEL=1 runs it on the kernel's resolver.
source "$(dirname "$0")/lib.sh"
setup nameinfo
out=$(onstack -- timeout 60 python3 -c "
import socket
for flags, name in ((0, '0'), (socket.NI_NAMEREQD, 'NI_NAMEREQD'), (socket.NI_NUMERICHOST, 'NI_NUMERICHOST'),
                    (socket.NI_NUMERICHOST | socket.NI_NUMERICSERV, 'NI_NUMERICHOST|NI_NUMERICSERV')):
    try:
        print(name, socket.getnameinfo(('$KERNEL_IP', 80), flags))
    except socket.gaierror as e:
        print(name, 'EAI_AGAIN' if e.errno == socket.EAI_AGAIN else e)
" 2>&1)
expected="0 EAI_AGAIN
NI_NAMEREQD EAI_AGAIN
NI_NUMERICHOST ('$KERNEL_IP', 'http')
NI_NUMERICHOST|NI_NUMERICSERV ('$KERNEL_IP', '80')"
[ "$out" = "$expected" ] || fail "$(diff <(echo "$expected") <(echo "$out"))"
echo "nameinfo: getnameinfo without a reachable name server says EAI_AGAIN unless asked for the number, as glibc"
