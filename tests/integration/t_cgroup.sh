# A cgroup v2 per VM (core/kvm/cgroup.c): where cgroup v2 has the memory
# and pids controllers, each shell runs in its own root-owned cgroup
# vm-PID under the "lightvm" subtree, with memory.max = guest memory +
# 1/128 + 16 MiB and pids.max = 2 (the shell and KVM's per-VM worker:
# kvm-nx-lpage-recovery-PID, a kernel thread KVM attaches to the cgroup of
# the VM's creator), and the cgroup is gone with the shell.
# Elsewhere (a cgroup v1 host) the agent says why in one line: SKIP.
. tests/integration/lib.sh
need_kvm
start_agent
$LVSH -c "spawn 3 noop" >/dev/null || fail "spawn 3 noop"
line=$(grep -m1 "lightvm-factory: .*per-VM cgroups" "$T/agent.log")
[ -n "$line" ] || fail "the factory said nothing about per-VM cgroups"
case $line in *"no per-VM cgroups"*) skip "cgroup v2 is not usable here: ${line#*: }";; esac
base=$(echo "$line" | sed -n 's/.*per-VM cgroups in \([^ ]*\) .*/\1/p')
[ -d "$base" ] || fail "no subtree '$base': $line"
grep -qw memory "$base/cgroup.subtree_control" && grep -qw pids "$base/cgroup.subtree_control" ||
	fail "$base delegates only '$(cat "$base/cgroup.subtree_control")'"

pids=$($LVSH --json -c list | jq -r '.vms[].pid')
mem=$($LVSH --json -c "inspect noop-1" | jq '.vms[0].mem_bytes')
want=$((mem + mem / 128 + 16 * 1048576))
for p in $pids; do
	cg=$(sed -n 's/^0:://p' /proc/"$p"/cgroup)
	case $cg in */lightvm/vm-$p) ;; *) fail "shell $p is in cgroup '$cg'";; esac
	d=$base/vm-$p
	[ -d "$d" ] || fail "no $d"
	[ "$(cat "$d/memory.max")" = "$want" ] || fail "$d/memory.max = $(cat "$d/memory.max"), not $want"
	[ "$(cat "$d/pids.max")" = 2 ] || fail "$d/pids.max = $(cat "$d/pids.max")"
	grep -qx "$p" "$d/cgroup.procs" || fail "shell $p is not in $d/cgroup.procs"
	for q in $(cat "$d/cgroup.procs"); do   # else only KVM's worker for this VM
		[ "$q" = "$p" ] && continue
		c=$(cat /proc/"$q"/comm)
		case $c in kvm-*-"$p") ;; *) fail "$d also holds $q ($c)";; esac
	done
	[ "$(cat "$d/pids.current")" -le 2 ] || fail "$d/pids.current = $(cat "$d/pids.current")"
	[ "$(stat -c %u "$d" "$d/cgroup.procs" "$d/memory.max" "$d/pids.max" | sort -u)" = 0 ] ||
		fail "$d or its files are not root's"
	[ "$(stat -c %a "$d/memory.max")" = 644 ] || fail "$d/memory.max mode $(stat -c %a "$d/memory.max")"
	[ "$(cat "$d/memory.current")" -gt 0 ] || fail "nothing charged to $d"
done
peak=$(cat "$d/memory.peak" 2>/dev/null || echo "?")
ok "3 shells: each in its own cgroup, memory.max $want, pids.max 2, root-owned (peak use $peak for $mem of guest memory)"

# 20 more: each shell's removal races KVM's worker leaving the cgroup
$LVSH -c "spawn 20 noop" >/dev/null || fail "spawn 20 noop"
pids=$($LVSH --json -c list | jq -r '.vms[].pid')
[ "$(echo $pids | wc -w)" = 23 ] || fail "not 23 VMs: $pids"
$LVSH -c "destroy all" >/dev/null || fail "destroy all"
$LVSH -c "pool set 4M/1 0" >/dev/null || fail "pool set 0"
i=0
while :; do
	left=""
	for p in $pids; do [ -d "$base/vm-$p" ] && left="$left $p"; done
	[ -z "$left" ] && break
	i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "cgroups left after destroy all:$left"
	sleep 0.1
done
ok "the cgroups are gone with their shells"

# a stale cgroup (a shell gone while no agent ran) is swept at the next start
stop_agent
mkdir "$base/vm-999999999" || fail "mkdir a stale cgroup"
start_agent
$LVSH -c "spawn 1 noop" >/dev/null || fail "spawn after restart"
[ -d "$base/vm-999999999" ] && { rmdir "$base/vm-999999999"; fail "the stale cgroup was not swept"; }
$LVSH -c "destroy all" >/dev/null || fail "destroy all"
agent_alive
ok "a stale cgroup swept at the agent's start"

# shells a former agent left and this one adopted are not the factory's
# children: their cgroups go by the factory's periodic sweep
stop_agent
"$B/lightvmd" -S "$SOCK" -D "$STATE" -d >>"$T/agent.log" 2>&1 &   # VMs stay at its stop
AGENT_PID=$!
i=0
while [ ! -S "$SOCK" ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "agent did not start"
	sleep 0.05
done
$LVSH -c "spawn 2 noop name=adopt" >/dev/null || fail "spawn 2 to adopt"
apids=$($LVSH --json -c "list adopt-*" | jq -r '.vms[].pid')
stop_agent
start_agent
[ "$(count_state running 'adopt-*')" = 2 ] || fail "the 2 VMs were not adopted: $($LVSH -c list)"
for p in $apids; do [ -d "$base/vm-$p" ] || fail "adopted shell $p lost its cgroup"; done
$LVSH -c "destroy all" >/dev/null || fail "destroy the adopted VMs"
i=0
while :; do
	left=""
	for p in $apids; do [ -d "$base/vm-$p" ] && left="$left $p"; done
	[ -z "$left" ] && break
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "cgroups of adopted shells left:$left"
	sleep 0.1
done
agent_alive
ok "the cgroups of adopted shells are gone with them"

# an agent in a cgroup of its own (systemd with Delegate=yes): it moves to
# the leaf "agent" (no internal processes) and the subtree is its sibling
$LVSH -c "pool set 4M/1 0" >/dev/null || fail "pool set 0"
stop_agent
cg=/sys/fs/cgroup/lvtest$$
mkdir "$cg" || fail "mkdir $cg"
sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2/lightvmd" -S "$3" -D "$4" -d --stop-vms' \
	sh "$cg" "$B" "$SOCK" "$STATE" >>"$T/agent.log" 2>&1 &
AGENT_PID=$!
i=0
while [ ! -S "$SOCK" ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "agent did not start in $cg"
	sleep 0.05
done
$LVSH -c "spawn 1 noop" >/dev/null || fail "spawn in $cg"
p=$($LVSH --json -c list | jq -r '.vms[0].pid')
grep -qx "0::/lvtest$$/lightvm/vm-$p" /proc/"$p"/cgroup || fail "shell $p: $(cat /proc/"$p"/cgroup)"
grep -qx "0::/lvtest$$/agent" /proc/"$AGENT_PID"/cgroup || fail "agent: $(cat /proc/"$AGENT_PID"/cgroup)"
[ "$(cat "$cg/lightvm/vm-$p/pids.max")" = 2 ] || fail "pids.max in $cg"
$LVSH -c "destroy all; pool set 4M/1 0" >/dev/null || fail "destroy all in $cg"
agent_alive
stop_agent
i=0
while [ -d "$cg" ]; do
	for d in "$cg"/lightvm/vm-* "$cg/lightvm" "$cg/agent" "$cg"; do rmdir "$d" 2>/dev/null; done
	[ -d "$cg" ] || break
	i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "cannot remove $cg: $(find "$cg" -name cgroup.procs -exec cat {} +)"
	sleep 0.1
done
ok "an agent in its own cgroup: moved to its leaf 'agent', shells in the sibling subtree"
