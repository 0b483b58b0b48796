#!/usr/bin/env bash
# Perl's sockets both ways. A preloaded IO::Socket::INET server on the stack (wildcard, SO_REUSEADDR)
# forks a child per client and serves 6 kernel-side clients at once and one over loopback from its
# own namespace; preloaded clients reach the kernel side: an echo, a 1 MiB download read with
# sysread, a refused connect, a connect timeout to a silent neighbour, UDP, a non-blocking connect
# under IO::Select, and HTTP::Tiny. Skipped without perl. E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
command -v perl >/dev/null || { echo "perl: SKIP (no perl)"; exit 0; }
setup perl
start_pm_peer $((1 << 20))

onstack -- timeout 60 perl -MIO::Socket::INET -e '
$SIG{CHLD} = "IGNORE";
my $l = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => 7300, Listen => 16, ReuseAddr => 1,
  Proto => "tcp") or die "listen: $@";
$| = 1;
print "listening ", $l->sockhost, ":", $l->sockport, "\n";
for (1 .. 7) {
  my $c = $l->accept or die "accept: $!";
  defined(my $pid = fork) or die "fork: $!";
  if ($pid == 0) {
    close $l;
    $c->autoflush(1);
    my $line = <$c>;
    chomp $line;
    print $c "$line from ", $c->peerhost, " to ", $c->sockhost, ":", $c->sockport, " in $$\n";
    exit 0;
  }
  close $c;
}
sleep 1;
' > "$WORK/server.log" 2>&1 &
wait_line "$WORK/server.log" "listening 0.0.0.0:7300" $! 20 "the perl server did not start"
clients=()
for i in $(seq 6); do
  inns timeout 20 bash -c "exec 3<>/dev/tcp/$STACK_IP/7300; echo client$i >&3; cat <&3" > "$WORK/c$i" &
  clients+=($!)
done
for p in "${clients[@]}"; do wait "$p" || fail "a kernel-side client failed"; done
for i in $(seq 6); do
  grep -q "^client$i from $KERNEL_IP to $STACK_IP:7300 in [0-9]*$" "$WORK/c$i" || fail "client $i: $(cat "$WORK/c$i")"
done
[ "$(cat "$WORK"/c* | awk '{print $NF}' | sort -u | wc -l)" = 6 ] || fail "not one child per client: $(cat "$WORK"/c*)"
out=$(onstack -- timeout 20 perl -MIO::Socket::INET -e '
my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:7300", Timeout => 3) or die "connect: $@";
print $c "loopback\n"; my $r = <$c>; print $r;' 2>&1)
[[ "$out" = "loopback from 127.0.0.1 to 127.0.0.1:7300 in "* ]] || fail "over loopback: $out"

mkdir -p "$WORK/www" && echo "hello perl" > "$WORK/www/index.html"
inns timeout 60 python3 -m http.server --bind "$KERNEL_IP" --directory "$WORK/www" 8080 > "$WORK/http.log" 2>&1 &
wait_port "$KERNEL_IP" 8080
out=$(onstack -- timeout 30 perl -MIO::Socket::INET -MIO::Select -MHTTP::Tiny -MDigest::SHA=sha256_hex -e '
my ($peer) = @ARGV;
my $c = IO::Socket::INET->new(PeerAddr => $peer, PeerPort => 9000, Proto => "tcp", Timeout => 3) or die "echo: $@";
print "me ", $c->sockhost, " peer ", $c->peerhost, ":", $c->peerport, "\n";
$c->autoflush(1); print $c "hello perl\n"; my $r = <$c>; print "echo $r";
my $g = IO::Socket::INET->new(PeerAddr => "$peer:9002") or die "blob: $@";
my ($n, $all) = (0, "");
while (my $k = sysread($g, my $buf, 65536)) { $n += $k; $all .= $buf }
print "blob $n ", substr(sha256_hex($all), 0, 16), "\n";
IO::Socket::INET->new(PeerAddr => "$peer:1", Timeout => 3) and die "connected to a closed port";
print "closed port: $@\n";
IO::Socket::INET->new(PeerAddr => "10.77.0.99:80", Timeout => 1) and die "connected to nobody";
print "silent host: $@\n";
my $u = IO::Socket::INET->new(PeerAddr => "$peer:9", Proto => "udp") or die "udp: $@";
print "udp from ", $u->sockhost, "\n";
my $nb = IO::Socket::INET->new(PeerAddr => "$peer:9000", Blocking => 0) or die "non-blocking: $!";
my @w = IO::Select->new($nb)->can_write(3);
print "non-blocking: writable ", scalar(@w), " connected ", ($nb->connected ? "yes" : "no"), "\n";
my $res = HTTP::Tiny->new(timeout => 5)->get("http://$peer:8080/index.html");
print "http $res->{status} $res->{content}";
' "$KERNEL_IP" 2>&1) || fail "the perl clients: $out"
expected="me $STACK_IP peer $KERNEL_IP:9000
echo hello perl
blob 1048576 $(sha256sum < "$WORK/blob" | cut -c1-16)
closed port: IO::Socket::INET: connect: Connection refused
silent host: IO::Socket::INET: connect: timeout
udp from $STACK_IP
non-blocking: writable 1 connected yes
http 200 hello perl"
[ "$out" = "$expected" ] || fail "the perl clients: $(diff <(echo "$expected") <(echo "$out"))"
grep -q "^$STACK_IP .*GET /index.html" "$WORK/http.log" || fail "the kernel's server did not see $STACK_IP: $(cat "$WORK/http.log")"
echo "perl: an IO::Socket::INET server on the stack forked a child per client (6 kernel clients at once, one over loopback); IO::Socket::INET, IO::Select and HTTP::Tiny clients on the stack reached the kernel side"
