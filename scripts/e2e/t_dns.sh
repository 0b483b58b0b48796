#!/usr/bin/env bash
# Names through the stack: a host name served by dnsmasq on the kernel side resolves over the stack's
# own UDP (dnsmasq logs the query from 10.77.0.2); an unknown name makes curl say it could not resolve
# the host; localhost stays on the kernel. python's gethostbyname_ex (gethostbyname_r) and
# gethostbyaddr (gethostbyaddr_r, a PTR query), and getent's gethostbyaddr and gethostbyname2, are
# answered over the stack too: dnsmasq sees no query from anywhere else. With no host, getaddrinfo
# lists what glibc lists in the namespace (`::` beside 0.0.0.0), and each of them can be bound.
source "$(dirname "$0")/lib.sh"
setup dns
start_http_peer
echo "by name" > "$WORK/www/n.html"
# 40 addresses for one name: their answer (some 670 bytes) does not fit in a UDP reply of 512.
for i in $(seq 40); do echo "10.77.1.$i many.tapstack.test"; done > "$WORK/many.hosts"
inns timeout 60 dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --listen-address="$KERNEL_IP" \
  --local=/tapstack.test/ --address=/web.tapstack.test/"$KERNEL_IP" --addn-hosts="$WORK/many.hosts" \
  --local=/0.77.10.in-addr.arpa/ --host-record=peer.tapstack.test,"$KERNEL_IP" \
  --cname=alias.tapstack.test,mid.tapstack.test --cname=mid.tapstack.test,peer.tapstack.test \
  --txt-record=txtonly.tapstack.test,hello --log-queries --log-facility="$WORK/dnsmasq.log" \
  --pid-file="$WORK/dnsmasq.pid" --user=root &
for _ in $(seq 50); do inns ss -Hlun "src $KERNEL_IP:53" | grep -q . && break; sleep 0.1; done

out=$(onstack --dns "$KERNEL_IP" -- curl -sS --max-time 10 "http://web.tapstack.test:8080/n.html")
[ "$out" = "by name" ] || fail "curl by name got: $out"
peer_saw_stack "GET /n.html"
grep -q "query\[A\] web.tapstack.test from $STACK_IP" "$WORK/dnsmasq.log" || fail "dnsmasq log: $(cat "$WORK/dnsmasq.log")"

out=$(onstack --dns "$KERNEL_IP" -- curl -sS --max-time 10 "http://nosuch.tapstack.test:8080/" 2>&1) && fail "unknown name resolved"
echo "$out" | grep -qi "could not resolve host" || fail "curl on an unknown name said: $out"

out=$(onstack --dns "$KERNEL_IP" -- python3 -c "
import socket
print(socket.gethostbyname('web.tapstack.test'))
print(socket.getaddrinfo('web.tapstack.test', 'http', socket.AF_INET, socket.SOCK_STREAM)[0][4])
print(socket.getaddrinfo('localhost', 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
try:
    socket.getaddrinfo('nosuch.tapstack.test', 80)
except socket.gaierror as e:
    print('gaierror', e.errno == socket.EAI_NONAME)
try:
    socket.getaddrinfo('txtonly.tapstack.test', 80)
except socket.gaierror as e:
    print('gaierror', e.errno == socket.EAI_NODATA, e.strerror)
")
# A name with a record but no address is glibc's EAI_NODATA, not EAI_NONAME.
expected="$KERNEL_IP
('$KERNEL_IP', 80)
127.0.0.1
gaierror True
gaierror True No address associated with hostname"
[ "$out" = "$expected" ] || fail "python lookups: $out"

# No host: the wildcard or loopback of each family, as glibc lists them in this namespace (a server
# on `listen_addresses = '*'` binds every passive one: 0.0.0.0 and ::).
nohost="
import socket
for flags in (0, socket.AI_PASSIVE):
    print([(a[0].name, a[4][0]) for a in socket.getaddrinfo(None, 5432, 0, socket.SOCK_STREAM, 0, flags)])
for fam, kind, proto, _, addr in socket.getaddrinfo(None, 5432, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE):
    s = socket.socket(fam, kind, proto)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(addr)
    s.listen()
    print('listening on', s.getsockname()[0])
"
want=$(inns python3 -c "$nohost")
out=$(onstack --dns "$KERNEL_IP" -- python3 -c "$nohost")
[ "$out" = "$want" ] || fail "getaddrinfo with no host: stack $out, glibc $want"
echo "$want" | grep -q "'::'" || fail "glibc lists no :: for AI_PASSIVE here: $want"

# --address gives no PTR; --host-record does, and --local answers NXDOMAIN for other addresses.
out=$(onstack --dns "$KERNEL_IP" -- python3 -c "
import socket
print(socket.gethostbyname_ex('web.tapstack.test'))
print(socket.gethostbyaddr('$KERNEL_IP'))
try:
    socket.gethostbyaddr('10.77.0.99')
except socket.herror as e:
    print('herror', e.errno)
print(socket.gethostbyaddr('127.0.0.1')[0] != '')
")
expected="('web.tapstack.test', [], ['$KERNEL_IP'])
('peer.tapstack.test', [], ['$KERNEL_IP'])
herror 1
True"
[ "$out" = "$expected" ] || fail "python gethostbyname_ex/gethostbyaddr: $out"
# getent hosts asks gethostbyaddr for an address, gethostbyname2 for a name.
out=$(onstack --dns "$KERNEL_IP" -- getent hosts "$KERNEL_IP" web.tapstack.test | tr -s ' ')
[ "$out" = "$KERNEL_IP peer.tapstack.test
$KERNEL_IP web.tapstack.test" ] || fail "getent hosts: $out"
grep -q "query\[PTR\] 1.0.77.10.in-addr.arpa from $STACK_IP" "$WORK/dnsmasq.log" || fail "no PTR from the stack: $(cat "$WORK/dnsmasq.log")"
grep -q "query\[PTR\] 99.0.77.10.in-addr.arpa from $STACK_IP" "$WORK/dnsmasq.log" || fail "no PTR for .99 from the stack: $(cat "$WORK/dnsmasq.log")"
# Search domains: a name with no dot is asked with each domain in turn (dnsmasq's --local answers
# NXDOMAIN for none.tapstack.test, so the next domain is asked).
out=$(onstack --dns "$KERNEL_IP" --dns-search none.tapstack.test,tapstack.test -- curl -sS --max-time 10 "http://web:8080/n.html")
[ "$out" = "by name" ] || fail "curl with search domains got: $out"
grep -q "query\[A\] web.none.tapstack.test from $STACK_IP" "$WORK/dnsmasq.log" || fail "the first search domain was not asked: $(cat "$WORK/dnsmasq.log")"
grep -q "query\[A\] web.tapstack.test from $STACK_IP" "$WORK/dnsmasq.log" || fail "the second search domain was not asked"
# ndots:2: a name with one dot goes through the search domains first, and is found there without
# being asked as given (dnsmasq's --address covers x.web.tapstack.test).
out=$(onstack --dns "$KERNEL_IP" --dns-search tapstack.test --dns-options ndots:2 -- curl -sS --max-time 10 "http://x.web:8080/n.html")
[ "$out" = "by name" ] || fail "curl with ndots:2 got: $out"
grep -q "query\[A\] x.web.tapstack.test from $STACK_IP" "$WORK/dnsmasq.log" || fail "ndots:2 did not search: $(cat "$WORK/dnsmasq.log")"
grep -q "query\[A\] x.web from" "$WORK/dnsmasq.log" && fail "ndots:2 asked a one-dot name as given"

# A CNAME chain: the canonical name is its end, the names before it are its aliases, as glibc
# reports them (checked against glibc 2.36 with this dnsmasq: the same three lines).
out=$(onstack --dns "$KERNEL_IP" -- python3 -c "
import socket
print(socket.gethostbyname_ex('alias.tapstack.test'))
print(socket.getaddrinfo('alias.tapstack.test', 80, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)[0][3])
")
expected="('peer.tapstack.test', ['alias.tapstack.test', 'mid.tapstack.test'], ['$KERNEL_IP'])
peer.tapstack.test"
[ "$out" = "$expected" ] || fail "a CNAME chain: $out"
out=$(onstack --dns "$KERNEL_IP" -- getent hosts alias.tapstack.test | tr -s ' ')
[ "$out" = "$KERNEL_IP peer.tapstack.test alias.tapstack.test mid.tapstack.test" ] || fail "getent hosts through a CNAME chain: $out"

# A reply cut at 512 bytes (TC) is asked again over TCP, as glibc does: all 40 addresses, in
# dnsmasq's order, and the capture shows the stack's TCP connection to port 53.
inns timeout 30 tcpdump -i tap0 -nn --immediate-mode -U -w "$WORK/dns-tcp.pcap" 'tcp port 53' 2>/dev/null &
dump=$!
for _ in $(seq 50); do [ -s "$WORK/dns-tcp.pcap" ] && break; sleep 0.1; done
out=$(onstack --dns "$KERNEL_IP" -- python3 -c "
import socket
name, aliases, addrs = socket.gethostbyname_ex('many.tapstack.test')
print(len(addrs), len(set(addrs)), sorted(addrs, key=socket.inet_aton) == ['10.77.1.%d' % i for i in range(1, 41)])
print(len({a[4][0] for a in socket.getaddrinfo('many.tapstack.test', 80, socket.AF_INET, socket.SOCK_STREAM)}))
")
sleep 0.3
kill "$dump" 2>/dev/null; wait "$dump" 2>/dev/null || true
[ "$out" = "40 40 True
40" ] || fail "a name with 40 addresses gave: $out"
syns=$(tcpdump -r "$WORK/dns-tcp.pcap" -nn 2>/dev/null | grep -c "$STACK_IP\.[0-9]* > $KERNEL_IP\.53: Flags \[S\]" || true)
[ "$syns" -ge 1 ] || fail "no TCP connection to port 53 from the stack: $(tcpdump -r "$WORK/dns-tcp.pcap" -nn 2>&1 | head)"

others=$(grep "query\[" "$WORK/dnsmasq.log" | grep -v "from $STACK_IP\$" || true)
[ -z "$others" ] || fail "queries that did not come through the stack: $others"
echo "dns: curl and python (getaddrinfo, gethostbyname_ex, gethostbyaddr) resolve through the stack; unknown names fail as they should; ndots; a truncated reply is asked again over TCP; search domains and CNAME chains as glibc"
