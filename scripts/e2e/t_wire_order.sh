#!/usr/bin/env bash
# Frames leave in the order the program's calls made them, across its sockets: a datagram whose
# sendto returned goes out before the SYN of a connect made after it, as on Linux, whose sendto
# hands the datagram to the device before it returns. Port knocking relies on it: a knock on each
# of several ports, each from a new socket, then the connect the knocks open. 20 rounds of 40
# knocks and a connect; every frame's port must come in the program's order.
source "$(dirname "$0")/lib.sh"
setup wire_order
if [ -n "$E2E_KERNEL" ]; then dev=veth0; else dev=tap0; fi
# Ports clear of 7000-7009, which tcpdump decodes as AFS. Frames are read by their destination
# port, not by tcpdump's "UDP" word: a datagram from source port 49152 it prints as Broadcom LI.
inns timeout 60 python3 -c "
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 7700)); l.listen(64)
def serve():
    while True:
        l.accept()[0].close()
threading.Thread(target=serve, daemon=True).start()
us = []
for p in range(7100, 7140):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', p)); us.append(u)
print('ready', flush=True)
threading.Event().wait(55)
" > "$WORK/peer.out" 2>&1 &
wait_line "$WORK/peer.out" ready 50 $! "the receivers did not start"
inns timeout 60 tcpdump -i "$dev" -nn --immediate-mode -U -w "$WORK/p.pcap" \
  "src host $STACK_IP and (udp or tcp[tcpflags] & tcp-syn != 0)" 2>/dev/null &
sleep 1
cat > "$WORK/knock.py" <<PY
import socket
for r in range(20):
    for p in range(7100, 7140):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(b'knock', ('$KERNEL_IP', p))
        u.close()
    t = socket.socket()
    t.connect(('$KERNEL_IP', 7700))
    t.close()
print('knocked', flush=True)
PY
onstack -- timeout 30 python3 "$WORK/knock.py" > "$WORK/knock.out" 2>&1 ||
  fail "the knocking program failed: $(cat "$WORK/knock.out")"
sleep 1
ns_pkill "tcpdump -i $dev" || true
sleep 0.5
inns tcpdump -nn -r "$WORK/p.pcap" 2>/dev/null |
  grep -oE " > ${KERNEL_IP//./\\.}\.7[0-9]{3}: " | grep -oE '7[0-9]{3}' > "$WORK/order"
python3 - "$WORK/order" <<'PY' || fail "$(cat "$WORK/verdict")"
import sys
got = open(sys.argv[1]).read().split()
want = ([str(p) for p in range(7100, 7140)] + ['7700']) * 20
if got != want:
    i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    open(sys.argv[1].replace('order', 'verdict'), 'w').write(
        f'{len(got)} frames of {len(want)}; first out of order at {i}: {got[max(0, i - 3):i + 4]}')
    sys.exit(1)
PY
echo "wire order: 20 rounds of 40 UDP knocks (a new socket each) and a connect left in the program's order (820 frames)"
