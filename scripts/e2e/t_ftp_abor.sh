#!/usr/bin/env bash
# FTP's ABOR (RFC 959 §4.1.3) during a stalled download, both ways between the stack and the
# kernel: the client sends Telnet IP, then Telnet DM as urgent data (MSG_OOB: Synch), then "ABOR",
# as lftp and ftp(1) do; vsftpd with async_abor_enable=YES learns of it from SIGURG (its F_SETOWN
# control socket), while it is blocked writing the data nobody reads, and answers 426 then 226.
# Without urgent data the ABOR would wait behind the transfer. (1) vsftpd on the stack, the client
# on the kernel: the stack receives URG; (2) vsftpd on the kernel, the client on the stack: the
# stack sends it. Skipped without vsftpd. E2E_KERNEL=1 runs it all on kernel sockets.
source "$(dirname "$0")/lib.sh"
VSFTPD=$(command -v vsftpd || echo /usr/sbin/vsftpd)
[ -x "$VSFTPD" ] || { echo "ftp_abor: SKIP (no vsftpd)"; exit 0; }
setup ftpabor
chmod 755 "$WORK"
mkdir -p "$WORK/root"
head -c 5000000 /dev/urandom > "$WORK/root/big.bin"
chmod -R a+rX "$WORK/root"

# vsftpd_conf FILE ADDRESS PORT: an anonymous, read-only vsftpd in the foreground on ADDRESS:PORT.
vsftpd_conf() {
  cat > "$1" <<CONF
listen=YES
listen_ipv6=NO
listen_address=$2
listen_port=$3
background=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$WORK/root
pasv_enable=YES
pasv_min_port=40000
pasv_max_port=40100
secure_chroot_dir=/var/run/vsftpd/empty
async_abor_enable=YES
isolate_network=NO
xferlog_enable=NO
vsftpd_log_file=$WORK/vsftpd-$3.log
CONF
}
vsftpd_conf "$WORK/s.conf" "$STACK_IP" 2121
vsftpd_conf "$WORK/k.conf" "$KERNEL_IP" 2122

cat > "$WORK/abor.py" <<'PY'
# A client that stalls a download, then aborts it as RFC 959 says.
import re, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
c = socket.create_connection((host, port), timeout=8)
f = c.makefile("rb")
def reply():
    while True:
        l = f.readline().decode().strip()
        if re.match(r"^\d{3} ", l): return l
reply(); c.sendall(b"USER anonymous\r\n"); reply()
c.sendall(b"TYPE I\r\n"); reply()
c.sendall(b"PASV\r\n"); n = list(map(int, re.search(r"\((.*)\)", reply()).group(1).split(",")))
d = socket.socket(); d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); d.connect((host, n[4] * 256 + n[5]))
c.sendall(b"RETR big.bin\r\n"); print("RETR", reply()[:3], flush=True)
d.recv(1000); time.sleep(0.5)  # the transfer stalls: nobody reads
t = time.time()
c.send(b"\xff\xf4\xff"); c.send(b"\xf2", socket.MSG_OOB); c.sendall(b"ABOR\r\n")  # IP, Synch, ABOR
try:
    a, b = reply(), reply()
    print("ABOR", a[:3], b[:3], "%.1f" % (time.time() - t), flush=True)
except socket.timeout:
    print("ABOR none within 8 s", flush=True)
PY

onstack -- timeout 60 "$VSFTPD" "$WORK/s.conf" > "$WORK/s.out" 2>&1 &
inns timeout 60 "$VSFTPD" "$WORK/k.conf" > "$WORK/k.out" 2>&1 &
wait_port "$STACK_IP" 2121
wait_port "$KERNEL_IP" 2122

inns timeout 20 python3 "$WORK/abor.py" "$STACK_IP" 2121 > "$WORK/c1.out" 2>&1 || true
onstack -- timeout 20 python3 "$WORK/abor.py" "$KERNEL_IP" 2122 > "$WORK/c2.out" 2>&1 || true
echo "(1) kernel client, vsftpd on the stack:"; cat "$WORK/c1.out"
echo "(2) client on the stack, kernel vsftpd:"; cat "$WORK/c2.out"
for c in c1 c2; do
  grep -q "^RETR 150" "$WORK/$c.out" || fail "$c: the download did not start"
  grep -Eq "^ABOR 426 226 [0-2]\.[0-9]$" "$WORK/$c.out" || fail "$c: ABOR was not answered (426, 226) at once"
done
echo "ftp_abor: vsftpd noticed ABOR's urgent data (SIGURG) during a stalled download, both ways"
