#!/usr/bin/env bash
# A reset that comes after the peer's FIN (CLOSE-WAIT): a client connects and closes at once, the
# server, having read its end of file or not, writes; the closed client answers with RST. Linux's
# tcp_reset then leaves EPIPE in sk_err: reads still end with 0 (the FIN came first), SO_ERROR
# says EPIPE once, and the next send fails with EPIPE and SIGPIPE. So a chargen-like server stops
# at its first writes; on the stack it wrote on into the void, every send taken. Checked as the
# kernel does it, also with E2E_KERNEL=1 (Linux's poll adds POLLERR, which the stack's socketpair
# cannot show: masked here). Then a reset that comes while the data before it fills the program's
# socket, unread: Linux's next send reports it (the stack's took it, and the reads that followed
# never ended), reads take the data first.
source "$(dirname "$0")/lib.sh"
setup rstfin
onstack -- timeout 20 python3 -c "
import errno, select, signal, socket, time
pipes = []
signal.signal(signal.SIGPIPE, lambda *a: pipes.append(1))
def res(f):
    try:
        return repr(f())
    except OSError as e:
        return errno.errorcode[e.errno]
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$STACK_IP', 7000)); l.listen()
# 1. A writer that never reads: it must learn of the reset within its first writes.
c, _ = l.accept(); time.sleep(0.3)
n, err, t = 0, None, time.time()
while time.time() - t < 3:
    try:
        n += c.send(b'x' * 65536)
    except OSError as e:
        err = errno.errorcode[e.errno]; break
time.sleep(0.01)  # (Python runs the handler between bytecodes)
print('writer:', err, 'SIGPIPE' if pipes else 'no SIGPIPE', 'within 1 MiB' if n < 1 << 20 else 'after %d bytes' % n, flush=True)
c.close(); pipes.clear()
# 2. What each call says once the reset is in, SO_ERROR first or a send first.
for order in ('so_error first', 'send first'):
    c, _ = l.accept(); time.sleep(0.3)
    c.send(b'hello'); time.sleep(0.3)
    p = select.poll(); p.register(c, select.POLLIN | select.POLLOUT | select.POLLRDHUP)
    ev = p.poll(0)[0][1] & ~select.POLLERR
    if order == 'so_error first':
        calls = [('SO_ERROR', lambda: c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)), ('recv', lambda: c.recv(10)),
                 ('recv', lambda: c.recv(10)), ('send', lambda: c.send(b'x')), ('send', lambda: c.send(b'x'))]
    else:
        calls = [('recv', lambda: c.recv(10)), ('send', lambda: c.send(b'x')), ('SIGPIPE', lambda: len(pipes)),
                 ('SO_ERROR', lambda: c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)), ('send', lambda: c.send(b'x'))]
    print(order + ': poll', hex(ev), ' '.join(name + ' ' + res(f) for name, f in calls), flush=True)
    c.close(); pipes.clear()
# 3. A reset while what came before it fills the program's socket, unread: a send reports it at
# once, reads take the data first, then end with it (or with end of file, a send having taken it).
for case in ('send first', 'read only'):
    c, _ = l.accept(); c.settimeout(5)
    time.sleep(1.0)
    first = res(lambda: c.send(b'x')) if case == 'send first' else '-'
    n, end = 0, None
    while True:
        try:
            d = c.recv(65536)
        except socket.timeout:
            end = 'stuck'; break
        except OSError as e:
            end = errno.errorcode[e.errno]; break
        if not d:
            end = 'EOF'; break
        n += len(d)
    print('full, ' + case + ': send', first, 'read', 'data' if n else 'nothing', 'then', end, 'send', res(lambda: c.send(b'x')), flush=True)
    c.close()
" > "$WORK/server.out" 2>&1 &
wait_port "$STACK_IP" 7000
# wait_port's own connection was the first: it closed at once, as the next three do.
for _ in 1 2; do
  inns timeout 5 python3 -c "
import socket, time
s = socket.create_connection(('$STACK_IP', 7000)); s.close(); time.sleep(0.8)"
done
# Two that send for 0.5 s without waiting, then reset.
for _ in 1 2; do
  inns timeout 5 python3 -c "
import socket, time
s = socket.create_connection(('$STACK_IP', 7000)); s.setblocking(False)
t = time.time()
while time.time() - t < 0.5:
    try:
        s.send(b'y' * 65536)
    except BlockingIOError:
        time.sleep(0.01)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\\1\\0\\0\\0\\0\\0\\0\\0'); s.close(); time.sleep(1.5)"
done
wait
expected="writer: EPIPE SIGPIPE within 1 MiB
so_error first: poll 0x2015 SO_ERROR 32 recv b'' recv b'' send EPIPE send EPIPE
send first: poll 0x2015 recv b'' send EPIPE SIGPIPE 1 SO_ERROR 0 send EPIPE
full, send first: send ECONNRESET read data then EOF send EPIPE
full, read only: send - read data then ECONNRESET send EPIPE"
[ "$(cat "$WORK/server.out")" = "$expected" ] || fail "after a reset in CLOSE-WAIT: $(cat "$WORK/server.out")"
echo "rst after fin: a reset after the peer's FIN ends the writer with EPIPE and SIGPIPE, reads stay at end of file, SO_ERROR says EPIPE once; one behind unread data fails the next send at once, reads take the data first; as Linux's tcp_reset"
