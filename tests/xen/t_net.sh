# Networking on Xen: daytime guests with a netif frontend, the agent as
# their backend (rings mapped with libxengnttab, frames by grant copy, a
# tap per VM on the host bridge).  TCP and UDP daytime answered by every
# guest from Dom0; stats count frames; a guest breaking the ring protocol
# is crashed alone; a rebooted guest answers again (new domain and rings,
# same tap); after kill -9 a new agent serves the same guests again (new
# taps, rings mapped again); destroy takes the taps away.
. tests/xen/lib.sh
need_dom0
[ -c /dev/net/tun ] || skip "no /dev/net/tun in Dom0 (tun module?)"
[ -c /dev/xen/gntdev ] || skip "no /dev/xen/gntdev in Dom0 (xen-gntdev module?)"
N=20
start_agent "pool 4M/1 = 8"

$LVSH -c "spawn $N daytime" >"$T/out" || fail "spawn $N daytime: $(cat "$T/out")"
wait_state running 'daytime-*' $N || fail "daytime VMs not running: $($LVSH -c 'list daytime-*' | head)"
$LVSH --json -c "list daytime-*" | jq -r '.vms[].ipv4' >"$T/ips"
[ "$(grep -c '^10\.' "$T/ips")" = $N ] || fail "daytime VMs without an address: $(cat "$T/ips" | head)"
ok "$N daytime VMs running, each with an address: $(head -n1 "$T/ips") .. $(tail -n1 "$T/ips")"

lv-daytime -d 5 -t 30 <"$T/ips" >"$T/tcp" 2>&1 || fail "TCP daytime: $(cat "$T/tcp")"
ok "TCP daytime from Dom0: $(head -n1 "$T/tcp")"
lv-daytime -u -d 5 -t 30 <"$T/ips" >"$T/udp" 2>&1 || fail "UDP daytime: $(cat "$T/udp")"
ok "UDP daytime from Dom0: $(head -n1 "$T/udp")"

$LVSH --json -c stats >"$T/stats" || fail "stats"
jq -e '[.vms[] | select((.name | startswith("daytime")) and (.net_rx_packets // 0) >= 2 and (.net_tx_packets // 0) >= 2)] | length == '$N "$T/stats" >/dev/null ||
	fail "net counters: $(jq -c '[.vms[] | {name, net_rx_packets, net_tx_packets}][0:3]' "$T/stats")"
ok "stats: every guest counted frames both ways"

$LVSH -c "spawn 1 badtx" >/dev/null 2>&1
wait_state crashed badtx-1 1 || fail "badtx-1 did not crash: $($LVSH -c 'inspect badtx-1')"
$LVSH -c "inspect badtx-1" | grep -q "reason: net: bad tx request" ||
	fail "badtx-1: wrong reason: $($LVSH -c 'inspect badtx-1' | grep reason)"
lv-daytime -d 5 -t 10 <"$T/ips" >/dev/null 2>&1 || fail "daytime VMs stopped answering after badtx"
ok "a guest sending a 3000-byte frame ends crashed ($($LVSH -c 'inspect badtx-1' | grep reason | cut -c9-70)...); the others serve on"

# reboot: a new domain, new rings, the same tap and address
old=$($LVSH --json -c 'list daytime-3' | jq -r '.vms[0].pid')
$LVSH -c "reboot daytime-3" >/dev/null || fail "reboot daytime-3"
i=0
while [ "$($LVSH --json -c 'list daytime-3' | jq -r '.vms[0].pid')" = "$old" ]; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "daytime-3 not rebuilt: $($LVSH -c 'inspect daytime-3')"; sleep 0.05
done
lv-daytime -d 5 -t 20 "$(sed -n 3p "$T/ips")" >"$T/rb" 2>&1 || fail "daytime-3 does not answer after its reboot: $(cat "$T/rb")"
ok "daytime-3 rebooted (domain $old -> $($LVSH --json -c 'list daytime-3' | jq -r '.vms[0].pid')): same address, answers again"

# kill -9: the taps die with the agent; a new agent makes new ones with
# the same MAC and maps the running guests' rings again
kill_restart_agent "pool 4M/1 = 8"
i=0
while [ "$(count_state running 'daytime-*')" != $N ]; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "daytime VMs not running after the restart: $($LVSH -c 'list daytime-*' | head -n 4)"; sleep 0.1
done
lv-daytime -d 5 -t 30 <"$T/ips" >"$T/tcp2" 2>&1 || fail "TCP daytime after a restart: $(cat "$T/tcp2")"
ok "agent killed and restarted: $(head -n1 "$T/tcp2")"

taps=$(ls /sys/class/net | grep -c '^lvt')
$LVSH -c "destroy daytime-1" >/dev/null || fail "destroy daytime-1"
lv-daytime -d 5 -t 10 "$(sed -n 2p "$T/ips")" >/dev/null 2>&1 || fail "daytime-2 stopped answering"
$LVSH -c "destroy all" >/dev/null || fail "destroy all"
sleep 0.5
left=$(ls /sys/class/net | grep -c '^lvt')
[ "$left" -lt "$taps" ] || fail "taps left after destroy: $taps before, $left after"
ok "destroy: taps go with the VMs ($taps -> $left, the rest are the spare taps)"
