#!/usr/bin/env bash
# SO_MAX_PACING_RATE, as iperf3's --fq-rate sets it: the stack refused it (ENOPROTOOPT), so
# `iperf3 --fq-rate 5M` warned and sent at Gbit/s where the kernel's TCP paces to 5 Mbit/s. A
# client on the stack caps its connection at 1 MB/s and sends 1.5 MB to a kernel-side sink, which
# times it (about 1.5 s; unpaced, a blink), and a server on the stack whose listener is capped
# sends 1 MB to a kernel-side client in about a second; the option reads back as Linux's
# sk_getsockopt gives it (32-bit and 64-bit, -1 as no cap, short buffers), on UDP too, and an
# accepted socket takes its listener's. E2E_KERNEL=1 runs it on the kernel's sockets.
source "$(dirname "$0")/lib.sh"
command -v iperf3 >/dev/null || fail "iperf3 is not installed"
setup pacing
inns timeout 30 python3 -c "
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 7600)); l.listen(4)
print('listening', flush=True)
for name in ('paced', 'unpaced'):
    c, _ = l.accept()
    start, n = time.monotonic(), 0
    while (k := len(c.recv(65536))) > 0:
        n += k
    print(name, n, round(time.monotonic() - start, 2), flush=True)
    c.close()
" > "$WORK/sink.log" 2>&1 &
sink=$!
wait_line "$WORK/sink.log" listening $sink 10 "the sink did not start"
out=$(onstack -- timeout 30 python3 -c "
import socket, struct
SO_MAX_PACING_RATE = 47
def get(s):
    return s.getsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE), s.getsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, 8).hex()
s = socket.socket()
print('unset', *get(s))
for v in (struct.pack('Q', 1 << 33), struct.pack('i', -5), struct.pack('I', 0xffffffff), b'12'):
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, v)
        print('set', v.hex(), *get(s), s.getsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, 2).hex())
    except OSError as e:
        print('set', v.hex(), e.strerror)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, 1000)
print('udp', *get(u))
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, 123456)
l.bind(('127.0.0.1', 7601)); l.listen(1)
c = socket.create_connection(('127.0.0.1', 7601))
a, _ = l.accept()
print('accepted', *get(a), 'client', *get(c))
for rate in (1000000, None):
    t = socket.socket()
    if rate:
        t.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, rate)
    t.connect(('$KERNEL_IP', 7600))
    t.sendall(bytes(1500000))
    t.close()
" 2>&1) || fail "the client: $out"
expected="unset -1 ffffffffffffffff
set 0000000002000000 -1 0000000002000000 ffff
set fbffffff -5 fbffffff00000000 fbff
set ffffffff -1 ffffffffffffffff ffff
set 3132 Invalid argument
udp 1000 e803000000000000
accepted 123456 40e2010000000000 client -1 ffffffffffffffff"
[ "$out" = "$expected" ] || fail "$(diff <(echo "$expected") <(echo "$out"))"
wait $sink || fail "the sink: $(cat "$WORK/sink.log")"
read -r _ pbytes psecs < <(grep '^paced ' "$WORK/sink.log")
read -r _ ubytes usecs < <(grep '^unpaced ' "$WORK/sink.log")
[ "$pbytes" = 1500000 ] && [ "$ubytes" = 1500000 ] || fail "bytes: $(cat "$WORK/sink.log")"
# 1.5 MB at 1 MB/s, the first ten segments unpaced: 1.5 s, give or take a busy host.
awk -v s="$psecs" 'BEGIN { exit !(s >= 1.3 && s <= 4) }' || fail "paced: 1.5 MB in $psecs s"
awk -v s="$usecs" 'BEGIN { exit !(s < 1) }' || fail "unpaced: 1.5 MB in $usecs s"

# A server's listener capped at 1 MB/s: the connection it accepts sends 1 MB in about a second.
onstack -- timeout 20 python3 -c "
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, 47, 1000000)
l.bind(('0.0.0.0', 7602)); l.listen(1); print('listening', flush=True)
a, _ = l.accept()
print('accepted', a.getsockopt(socket.SOL_SOCKET, 47), flush=True)
a.sendall(bytes(1000000)); a.close()
" > "$WORK/server.log" 2>&1 &
server=$!
wait_line "$WORK/server.log" listening $server 10 "the server did not start"
read -r sbytes ssecs < <(inns timeout 20 python3 -c "
import socket, time
c = socket.create_connection(('$STACK_IP', 7602)); start, n = time.monotonic(), 0
while (k := len(c.recv(65536))) > 0:
    n += k
print(n, round(time.monotonic() - start, 2))
")
wait $server || fail "the server: $(cat "$WORK/server.log")"
grep -qx "accepted 1000000" "$WORK/server.log" || fail "the accepted socket: $(cat "$WORK/server.log")"
[ "$sbytes" = 1000000 ] || fail "the download: $sbytes bytes"
awk -v s="$ssecs" 'BEGIN { exit !(s >= 0.8 && s <= 4) }' || fail "paced server: 1 MB in $ssecs s"

# iperf3 --fq-rate 5M sets SO_MAX_PACING_RATE 625000 on its data connection: about 5 Mbit/s.
inns timeout 20 iperf3 -s -1 -B "$KERNEL_IP" -p 5201 > "$WORK/iperf-server.log" 2>&1 &
iperf=$!
wait_port "$KERNEL_IP" 5201
onstack -- timeout 20 iperf3 -c "$KERNEL_IP" -p 5201 -t 1 --fq-rate 5M -J > "$WORK/iperf.json" 2>&1 || fail "iperf3: $(cat "$WORK/iperf.json")"
wait $iperf || true
grep -qi "unable to set socket pacing" "$WORK/iperf.json" && fail "iperf3 could not set its pacing: $(cat "$WORK/iperf.json")"
mbits=$(python3 -c "import json, sys; print(round(json.load(open(sys.argv[1]))['end']['sum_received']['bits_per_second'] / 1e6, 2))" "$WORK/iperf.json")
awk -v m="$mbits" 'BEGIN { exit !(m >= 3 && m <= 8) }' || fail "iperf3 --fq-rate 5M: $mbits Mbit/s"
echo "pacing: SO_MAX_PACING_RATE 1 MB/s sent 1.5 MB in $psecs s (unpaced $usecs s), a server's 1 MB in $ssecs s, iperf3 --fq-rate 5M $mbits Mbit/s; the option reads back as Linux's, accepted sockets inheriting it"
