#!/usr/bin/env bash
# dnsmasq's DHCP server on the stack hands a lease to a client on the kernel's side of the link,
# as on Linux: it asks SIOCGIFADDR of its bound socket (the stack's address), and answers a client
# without the broadcast flag by unicast to the address it offers, after putting the client's MAC in
# the ARP table with SIOCSARP, which on a stack socket goes into the stack's neighbour cache. The
# stack said ENOTTY to both: "DHCP packet received on tap0 which has no address", then, that
# mended, an offer sent only after an ARP the client cannot answer ("no lease, failing").
source "$(dirname "$0")/lib.sh"
setup dhcpsrv
command -v busybox >/dev/null || fail "busybox is not installed"
if [ -n "$E2E_KERNEL" ]; then server_if=veth1 client_if=veth0; else server_if=tap0 client_if=tap0; fi
onstack -- timeout 30 dnsmasq -k -p 0 --no-resolv --dhcp-range=10.77.0.50,10.77.0.60,255.255.255.0,1h \
  --interface="$server_if" --log-dhcp --log-facility=- --dhcp-leasefile="$WORK/leases" > "$WORK/dnsmasq.log" 2>&1 &
sleep 1.5
for flag in "" -B; do
  out=$(inns timeout 15 busybox udhcpc $flag -f -q -n -i "$client_if" -t 3 -s /bin/true 2>&1 || true)
  lease=$(echo "$out" | grep -o "lease of [0-9.]* obtained from $STACK_IP" || true)
  echo "udhcpc ${flag:-(unicast)}: ${lease:-$(echo "$out" | tail -1)}"
  [ -n "$lease" ] || { cat "$WORK/dnsmasq.log"; fail "no lease with udhcpc ${flag:-without -B}"; }
done
echo "dhcp server: dnsmasq on the stack leases to a client asking for a unicast or a broadcast answer"
