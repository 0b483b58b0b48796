#!/usr/bin/env bash
# TCP urgent data (MSG_OOB) both ways between a program on the stack and a kernel peer, as Linux
# does it (BSD's urgent pointer, RFC 6093; one out-of-band byte at a time):
#  (1) the peer sends "xy", "!" with MSG_OOB, "z": the program (F_SETOWN to itself) sees the
#      exceptional condition in select and POLLPRI in poll, gets SIGURG, reads "xy" (the read
#      stops at the mark), SIOCATMARK says it is there, recv(MSG_OOB) gives "!" (then EINVAL, as
#      before any urgent data came), and reads "z";
#  (2) the same with SO_OOBINLINE on the program's socket: it reads "xy!z", recv(MSG_OOB) EINVAL;
#  (3) the program sends "ab", "!" with MSG_OOB, "cd": the peer reads "ab", is at the mark, gets
#      "!" with recv(MSG_OOB), then "cd"; the capture shows the program's "!" with URG, urg 1;
#  (4) the same to a peer with SO_OOBINLINE, which reads "ab!cd";
#  (5) the peer sends 1 MiB, "!" with MSG_OOB, "z" to a program that reads slowly, asking for the
#      urgent byte between reads: the stream is the 1 MiB and "z", recv(MSG_OOB) gives "!" (before
#      it, EINVAL, or EAGAIN while the pointer has come and the byte not: Linux's TCP_URG_NOTYET).
#      Linux has the byte as soon as its segment is in; the stack once the stream before it fits
#      in the program's socketpair (scripts/conformance case urgent_receive checks EAGAIN).
# E2E_KERNEL=1 runs it all on kernel sockets, to prove the scenario.
source "$(dirname "$0")/lib.sh"
setup oob
if [ -n "$E2E_KERNEL" ]; then dev=veth0; else dev=tap0; fi
inns timeout 60 tcpdump -i "$dev" -nn --immediate-mode -U -w "$WORK/oob.pcap" tcp port 7400 2>/dev/null &
for _ in $(seq 50); do [ -s "$WORK/oob.pcap" ] && break; sleep 0.1; done

inns timeout 40 python3 - "$KERNEL_IP" > "$WORK/peer.out" 2>&1 <<'PY' &
import socket, sys, time, fcntl, array
def atmark(s):
    b = array.array('i', [0]); fcntl.ioctl(s.fileno(), 0x8905, b); return b[0]
L = socket.socket(); L.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); L.bind((sys.argv[1], 7400)); L.listen()
print("ready", flush=True)
for _ in range(2):  # (1) and (2): the peer sends urgent data
    c, _ = L.accept(); time.sleep(0.3)
    c.send(b"xy"); time.sleep(0.2); c.send(b"!", socket.MSG_OOB); time.sleep(0.2); c.send(b"z")
    c.recv(10); c.close()
c, _ = L.accept()  # (3): the program sends it; read once all is in
time.sleep(0.8)
out = [c.recv(100), atmark(c)]
out.append(c.recv(1, socket.MSG_OOB))
rest = b""
while True:
    d = c.recv(100)
    if not d: break
    rest += d
out.append(rest)
print("PEER3", out[0].decode(), out[1], out[2].decode(), out[3].decode(), flush=True); c.close()
c, _ = L.accept(); c.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)  # (4)
got = b""
while True:
    d = c.recv(100)
    if not d: break
    got += d
print("PEER4", got.decode(), flush=True); c.close()
c, _ = L.accept()  # (5): the urgent byte behind 1 MB the program has not read yet
c.sendall(b"a" * (1 << 20)); c.send(b"!", socket.MSG_OOB); c.sendall(b"z"); c.recv(10); c.close()
PY
peer=$!
wait_line "$WORK/peer.out" ready "$peer" 10 "the peer did not start"

onstack -- timeout 30 python3 - "$KERNEL_IP" > "$WORK/prog.out" 2>&1 <<'PY' || true
import socket, sys, time, fcntl, array, os, select, signal, errno
def atmark(s):
    b = array.array('i', [0]); fcntl.ioctl(s.fileno(), 0x8905, b); return b[0]
def oob(s):
    try: return s.recv(1, socket.MSG_OOB | socket.MSG_DONTWAIT).decode()
    except OSError as e: return errno.errorcode[e.errno]
urg = []
signal.signal(signal.SIGURG, lambda *a: urg.append(1))
# (1)
s = socket.create_connection((sys.argv[1], 7400))
fcntl.fcntl(s.fileno(), fcntl.F_SETOWN, os.getpid())
before = oob(s)
_, _, x = select.select([], [], [s], 5)
p = select.poll(); p.register(s, select.POLLIN | select.POLLPRI)
pri = any(ev & select.POLLPRI for _, ev in p.poll(0))
first = s.recv(100).decode()
mark = atmark(s)
byte = oob(s)
again = oob(s)
rest = s.recv(100).decode()
print("PROG1", before, bool(x), pri, len(urg) > 0, first, mark, byte, again, rest, flush=True)
s.send(b"."); s.close()
# (2)
s = socket.create_connection((sys.argv[1], 7400)); s.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
got = b""
while len(got) < 4:
    d = s.recv(100)
    if not d: break
    got += d
print("PROG2", got.decode(), oob(s), s.getsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE), flush=True)
s.send(b"."); s.close()
# (3) and (4)
for _ in range(2):
    s = socket.create_connection((sys.argv[1], 7400))
    s.send(b"ab"); time.sleep(0.1); s.send(b"!", socket.MSG_OOB); time.sleep(0.1); s.send(b"cd"); time.sleep(0.2); s.close()
# (5): reading slowly towards the urgent byte, asking for it out of band between reads
s = socket.create_connection((sys.argv[1], 7400))
time.sleep(1)
seen, stream, byte = set(), b"", None
for _ in range(5000):
    if byte is None:
        r = oob(s)
        if len(r) == 1: byte = r
        else: seen.add(r)
    if stream.endswith(b"z") and byte is not None: break
    d = s.recv(16384)
    if not d: break
    stream += d
ok = stream == b"a" * (1 << 20) + b"z"
print("PROG5", ok, byte, "/".join(sorted(seen)), flush=True)
s.send(b"."); s.close()
print("PROG done", flush=True)
PY
wait "$peer" || true
sleep 0.5
cat "$WORK/peer.out" "$WORK/prog.out"
inns tcpdump -nn -r "$WORK/oob.pcap" 'tcp[tcpflags] & tcp-urg != 0' 2>/dev/null | cut -d' ' -f2- > "$WORK/urg.txt"
# The one-byte urgent segments of (1) to (4) (those of (5) are many: its pointer is capped).
grep "urg 1, .*length 1$" "$WORK/urg.txt" || true
grep -qx "PROG1 EINVAL True True True xy 1 ! EINVAL z" "$WORK/prog.out" \
  || fail "(1) urgent data to the program: want 'PROG1 EINVAL True True True xy 1 ! EINVAL z' (before, select, POLLPRI, SIGURG, read, mark, OOB, again, rest)"
grep -qx "PROG2 xy!z EINVAL 1" "$WORK/prog.out" || fail "(2) with SO_OOBINLINE the program did not read xy!z in line"
grep -qx "PEER3 ab 1 ! cd" "$WORK/peer.out" || fail "(3) the kernel peer did not read ab, the mark, ! out of band, cd"
grep -qx "PEER4 ab!cd" "$WORK/peer.out" || fail "(4) the kernel peer with SO_OOBINLINE did not read ab!cd"
grep -Eqx "PROG5 True ! (EAGAIN|EINVAL|EAGAIN/EINVAL)" "$WORK/prog.out" \
  || fail "(5) 1 MiB, then z, in line, and ! out of band (before it EINVAL, or EAGAIN once the pointer came) were not what the program got"
grep -q "IP $STACK_IP\.[0-9]* > $KERNEL_IP\.7400: .*urg 1" "$WORK/urg.txt" || fail "no URG segment from $STACK_IP on $dev"
grep -q "IP $KERNEL_IP\.7400 > $STACK_IP\.[0-9]*: .*urg 1" "$WORK/urg.txt" || fail "no URG segment from the kernel peer on $dev"
echo "oob: urgent data both ways as Linux: SIGURG, select/poll's exceptional condition, the mark, recv(MSG_OOB), SO_OOBINLINE in line; URG on the wire"
