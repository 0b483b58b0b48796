#!/usr/bin/env bash
# Three calls on a UDP socket the stack holds, beside Linux's answers: SIOCGIFADDR, SIOCGIFNETMASK
# and SIOCGIFBRDADDR after the socket is bound (dnsmasq's DHCP server asks them of its socket:
# the AF_UNIX end under a stack socket answered ENOTTY, and dnsmasq took tap0 for an interface
# without an address); FIONREAD, the next datagram's length and not the whole queue's (Linux's
# first_packet_length); and a shutdown from another thread, which ends a blocked recv with an
# empty datagram and no address (Linux's __skb_recv_udp at RCV_SHUTDOWN; a receive that does not
# wait says EAGAIN), where the stack's said ECONNABORTED.
source "$(dirname "$0")/lib.sh"
setup udpcalls
out=$(onstack -- timeout 20 python3 -c "
import fcntl, socket, struct, termios, threading, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 9300))
dev = [n for _, n in socket.if_nameindex() if n != 'lo'][0].encode()  # tap0, or the kernel's veth
for name, req in (('addr', 0x8915), ('netmask', 0x891b), ('broadcast', 0x8919)):  # no broadcast is set
    r = fcntl.ioctl(s, req, struct.pack('16s16s', dev, b''))
    print(name, socket.inet_ntoa(r[20:24]))
t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t.sendto(b'x' * 1000, ('$STACK_IP', 9300)); t.sendto(b'y' * 7, ('$STACK_IP', 9300))
time.sleep(0.3)
def inq():
    return struct.unpack('i', fcntl.ioctl(s, termios.FIONREAD, b'\0' * 4))[0]
print('fionread', inq()); s.recv(2000); print('fionread', inq()); s.recv(2000); print('fionread', inq())
got = []
def reader():
    try:
        got.append(s.recvfrom(100))
    except OSError as e:
        got.append(e.strerror)
th = threading.Thread(target=reader); th.start()
time.sleep(0.3)
try:
    s.shutdown(socket.SHUT_RDWR)
except OSError as e:
    print('shutdown', e.strerror)  # not connected, as Linux's inet_shutdown says, yet recorded
th.join(5)
print('after shutdown', got)
try:
    print('then without waiting', s.recv(100, socket.MSG_DONTWAIT))
except BlockingIOError:
    print('then without waiting EAGAIN')
" 2>&1)
echo "$out"
[ "$out" = "addr $STACK_IP
netmask 255.255.255.0
broadcast 0.0.0.0
fionread 1000
fionread 7
fionread 0
shutdown Transport endpoint is not connected
after shutdown [(b'', None)]
then without waiting EAGAIN" ] || fail "ioctl, FIONREAD or shutdown on a UDP socket"
echo "udp calls: interface ioctls after bind, FIONREAD of the next datagram, shutdown ends a blocked recv"
