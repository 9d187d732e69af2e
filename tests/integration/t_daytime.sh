#!/bin/sh
# t_daytime.sh - daytime guests on a private bridge, inside a network
# namespace this test creates (the host network is untouched): N (200)
# VMs answer TCP and UDP port 13 with the time; a sample answers ping;
# malformed and hostile frames (lv-netfuzz) and a guest flooding its rings
# (netflood) leave the guests serving and the shells and the agent
# unaffected; a bad ring descriptor (badnic) crashes only its VM; after
# a kill -9 mid-spawn and after a SIGTERM, a new agent keeps the restored
# VMs' addresses and gives new VMs other ones; after `destroy all` and
# the agent's exit no tap, address or process is left.
. tests/integration/lib.sh
need_kvm
N=${N:-200}
command -v ping >/dev/null || skip "no ping (iputils-ping)"
# the agent runs without --stop-vms (restarts below): a failed run
# destroys its VMs on the way out (need_netns)
need_netns lvtest
ns_agent

t0=$(date +%s%N)
$LVSH -c "spawn $N daytime --wait" >/dev/null || fail "spawn $N daytime"
ok "spawn $N daytime --wait: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
[ "$(count_state running)" -eq "$N" ] || fail "not all $N daytime VMs run"
$LVSH --json -c list | jq -r '.vms[].ipv4' >"$T/ips"
[ "$(sort -u "$T/ips" | grep -c '^10\.77\.')" -eq "$N" ] || fail "addresses are not unique"
$LVSH -c "inspect daytime-1" | grep -q '^ipv4: 10\.77\.' || fail "inspect shows no address"
$LVSH -c "inspect daytime-1" | grep -q '^mac: 02:4c:56:' || fail "inspect shows no MAC"

# every VM answers on TCP and UDP with a time within 3 s of ours
$IN "$B/tests/lv-daytime" -d $((3 * TS)) -t $((30 * TS)) <"$T/ips" || fail "TCP daytime"
$IN "$B/tests/lv-daytime" -u -d $((3 * TS)) -t $((30 * TS)) <"$T/ips" || fail "UDP daytime"
ok "TCP and UDP answers from all $N"
for ip in $(sed -n '1p;100p;$p' "$T/ips"); do
	$IN ping -c 2 -i 0.2 -W 2 -q "$ip" >/dev/null || fail "no ping answer from $ip"
done
ok "ping"

# restarts: kill -9 while more daytime VMs are being spawned, then SIGTERM
# with the VMs left running.  Each new agent re-reserves the restored
# VMs' addresses (and MACs) before any new spawn: the restored keep
# theirs, the new ones get others, all answer.
settled() {
	i=0
	while $LVSH --json -c list | jq -r '.vms[].state' | grep -Eq '^(prepared|booting)$'; do
		i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "VMs stuck after the restart"; sleep 0.1
	done
}
check_unique() {  # $1: what
	$LVSH --json -c list | jq -r '.vms[] | "\(.name) \(.ipv4)"' >"$T/named"
	awk '{print $2}' "$T/named" >"$T/ips"
	n=$(wc -l <"$T/ips")
	[ "$(sort -u "$T/ips" | grep -c '^10\.77\.')" -eq "$n" ] ||
		fail "$1: addresses are not unique or missing: $(grep -v '^10\.77\.' "$T/named" | head -3) $(sort "$T/ips" | uniq -d | head -3)"
	grep -Fvxf "$T/named" "$T/before" | head -3 | grep . && fail "$1: restored VMs lost or changed their address"
	$IN "$B/tests/lv-daytime" -d $((3 * TS)) -t $((30 * TS)) <"$T/ips" || fail "$1: TCP daytime"
	cp "$T/named" "$T/before"
}
$LVSH --json -c list | jq -r '.vms[] | "\(.name) \(.ipv4)"' >"$T/before"
$LVSH -c "spawn 40 daytime" >/dev/null 2>&1 &
SPAWN=$!
i=0
while [ "$(ls "$STATE/vms" | grep -c '\.vm$')" -lt $((N + 10)) ]; do
	i=$((i + 1)); [ $i -gt $((200 * TS)) ] && fail "the second spawn did not start"; sleep 0.02
done
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; wait $SPAWN 2>/dev/null
rm -f "$SOCK"
ns_agent
settled
$LVSH -c "spawn 30 daytime --wait" >/dev/null || fail "spawn after kill -9"
check_unique "after kill -9"
ok "kill -9 mid-spawn, restart, spawn 30: $(wc -l <"$T/ips") VMs, unique addresses, restored ones kept theirs, all answer"
stop_agent
rm -f "$SOCK"
ns_agent
settled
$LVSH -c "spawn 10 daytime --wait" >/dev/null || fail "spawn after SIGTERM"
check_unique "after SIGTERM"
ok "SIGTERM (VMs left running), restart, spawn 10: $(wc -l <"$T/ips") VMs, unique addresses, all answer"

# hostile frames at daytime-1 through the bridge and its tap
ip1=$(sed -n 1p "$T/ips")
mac1=$($LVSH --json -c "inspect daytime-1" | jq -r '.vms[0].mac')
pid1=$($LVSH --json -c "inspect daytime-1" | jq -r '.vms[0].pid')
$IN "$B/tests/lv-netfuzz" lvbr0 "$mac1" "$ip1" 3000 || fail "lv-netfuzz"
tsleep 1
$IN "$B/tests/lv-daytime" -d $((3 * TS)) "$ip1" || fail "daytime-1 stopped serving after the fuzzing"
[ "$($LVSH --json -c "inspect daytime-1" | jq -r '.vms[0].state')" = running ] || fail "daytime-1 is not running"
[ "$($LVSH --json -c "inspect daytime-1" | jq -r '.vms[0].pid')" = "$pid1" ] || fail "daytime-1 has a new shell"
kill -0 "$AGENT_PID" || fail "the agent died"
ok "malformed frames, SYN flood, out-of-window segments: daytime-1 still serves"

# a guest flooding its rings slows only itself
$LVSH -c "spawn 1 netflood --wait" >/dev/null || fail "spawn netflood"
tsleep 2
$IN "$B/tests/lv-daytime" -d $((3 * TS)) -t $((20 * TS)) <"$T/ips" || fail "daytime VMs stopped serving during a flood"
[ "$(count_state running netflood-1)" -eq 1 ] || fail "netflood-1 is not running"
ok "a flooding guest: the others still serve"
$LVSH -c "destroy netflood-1" >/dev/null

# a bad descriptor crashes that guest and nothing else
$LVSH -c "spawn 1 badnic --wait" >/dev/null 2>&1
tsleep 0.5
$LVSH -c "inspect badnic-1" | grep -q "reason: net: bad tx descriptor" ||
	fail "badnic-1 did not crash on its bad descriptor: $($LVSH -c 'inspect badnic-1' | grep reason)"
$LVSH -c "spawn 1 badtx --wait" >/dev/null 2>&1
tsleep 0.5
$LVSH -c "inspect badtx-1" | grep -q "reason: net: bad tx descriptor .*length 3000" ||
	fail "badtx-1 did not crash on its 3000-byte frame: $($LVSH -c 'inspect badtx-1' | grep reason)"
kill -0 "$AGENT_PID" || fail "the agent died"
ok "bad descriptor, oversized frame: crashed, the rest unaffected"

# noop needs no NIC: no address
$LVSH -c "spawn 1 noop --wait" >/dev/null
[ "$($LVSH --json -c "inspect noop-1" | jq -r '.vms[0].ipv4')" = null ] || fail "noop got an address"

$LVSH -c "destroy all" >/dev/null || fail "destroy all"
$LVSH -c "pool set 4M/1 0" >/dev/null || fail "pool set 0"
i=0   # the restored shells too (children of an old factory)
while [ "$(test_shells | wc -l)" -gt 0 ] || [ "$(shell_count)" -gt 0 ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "shells left after destroy all: $(test_shells | wc -l)"; sleep 0.1
done
[ -z "$($IN ip neigh show dev lvbr0 nud permanent)" ] ||
	fail "neighbour entries left after destroy all: $($IN ip neigh show dev lvbr0 nud permanent | head -3)"
# only the agent's small pool of spare taps is left, then nothing
[ "$($IN ip -o link show master lvbr0 | wc -l)" -le 16 ] || fail "taps left after destroy all"
stop_agent
tsleep 0.2
[ "$($IN ip -o link | grep -c ' lvt[0-9]')" -eq 0 ] || fail "taps left after the agent stopped"
ok "destroy all: no shell, VM address or tap left"
