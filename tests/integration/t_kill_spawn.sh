#!/bin/sh
# t_kill_spawn.sh - the agent killed (-9) at several points of a spawn of
# 20 NIC guests: each restart keeps every VM that has a running guest,
# with the image and address its record gave it (also a VM whose record
# was written before its shell's pid: its shell reports in and gets the
# record back), no address twice, and every guest answers on it.
. tests/integration/lib.sh
need_kvm
need_netns lvkill
# a spawn writes a new VM's record into a spare file (.spare-N), named
# NAME.vm when the agent is idle: both count
records() {
	{ ls "$STATE/vms" | grep '\.vm$'; grep -l '^lightvm-vm' "$STATE"/vms/.spare-* 2>/dev/null; } | wc -l
}
ns_agent
$LVSH -c "spawn 10 daytime --wait" >/dev/null || fail "spawn 10 daytime"
for at in 1 4 8 12 16 19 20; do
	base=$(records)
	$LVSH -c "spawn 20 daytime" >/dev/null 2>&1 &
	SPAWN=$!
	i=0
	while [ "$(records)" -lt $((base + at)) ]; do
		i=$((i + 1)); [ $i -gt $((1000 * TS)) ] && fail "spawn 20: fewer than $at records"; sleep 0.005
	done
	kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; wait $SPAWN 2>/dev/null
	rm -f "$SOCK"
	ns_agent
	$LVSH -c "spawn 2 daytime --wait" >/dev/null || fail "spawn after the kill at record $at"
	i=0   # re-attaching and adopted VMs end booting
	while $LVSH --json -c list | jq -r '.vms[].state' | grep -Eq '^(prepared|booting)$'; do
		i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "VMs stuck after the restart"; sleep 0.1
	done
	$LVSH --json -c list >"$T/list"
	# a burst's shells keep one CPU and the boot slice until the agent
	# names their logs: the next agent gives them back (shell_hello)
	want=$(cpus "$AGENT_PID")
	# (within 0.2 s: the two spawned after the restart are a burst too)
	for p in $(jq -r '.vms[] | select(.state == "running") | .pid' "$T/list"); do
		i=0
		until [ "$(cpus "$p")" = "$want" ] && [ "$(slice "$p")" != 100000 ]; do
			i=$((i + 1)); [ $i -gt $((10 * TS)) ] &&
				fail "kill at record $at: shell $p has CPUs $(cpus "$p") (the agent's: $want), slice $(slice "$p") ns"
			sleep 0.1
		done
	done
	bad=$(jq -c '.vms[] | select(.state == "running" and (.ipv4 == null or .image != "daytime")) | {name, image, ipv4}' "$T/list" | head -3)
	[ -z "$bad" ] || fail "kill at record $at: running VMs without their image or address: $bad"
	dup=$(jq -r '.vms[] | select(.ipv4 != null) | .ipv4' "$T/list" | sort | uniq -d | head -3)
	[ -z "$dup" ] || fail "kill at record $at: an address twice: $dup"
	jq -r '.vms[] | select(.state == "running") | .ipv4' "$T/list" >"$T/ips"
	$IN "$B/tests/lv-daytime" -d $((3 * TS)) -t $((30 * TS)) <"$T/ips" || fail "kill at record $at: TCP daytime"
	echo "kill at record $at: $(wc -l <"$T/ips") running, each with its address; $(grep -c 'runs the guest of its record' "$T/agent.log") shells re-attached to records written before their pid so far"
done
ok "kill -9 at 7 points of a spawn: no VM lost its image or address, none twice, all answer; every shell has the agent's CPUs and the kernel's slice"
