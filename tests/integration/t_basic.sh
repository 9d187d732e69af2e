# 200 noop + 50 hello VMs through the real agent and lvsh: states, consoles,
# pools, pause/unpause/shutdown, and `destroy all` leaves nothing behind.
. tests/integration/lib.sh
need_kvm
start_agent
$LVSH -c "host" >/dev/null || fail "host"
fds0=$(agent_fds)
rss() { awk '/VmRSS/ {print $2}' /proc/"$AGENT_PID"/status; }
$LVSH -c "spawn 20 noop name=warm; destroy all" >/dev/null || fail "warm-up"
rss0=$(rss)

$LVSH -c "spawn 200 noop" >"$T/out" || fail "spawn 200 noop: $(cat "$T/out")"
[ "$(count_state running 'noop-*')" = 200 ] || fail "not 200 running noop VMs"
ok "200 noop running"

$LVSH -c "spawn 50 hello" || fail "spawn 50 hello"
i=0
while [ "$(count_state shutoff 'hello-*')" != 50 ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "hello VMs did not all shut off: $($LVSH -c 'list hello-*' | head)"
	sleep 0.1
done
ok "50 hello shut off"
for n in $(seq 1 50); do
	$LVSH -c "log hello-$n" | grep -qx "hello from hello-$n" || fail "hello-$n console: $($LVSH -c "log hello-$n")"
done
ok "every hello console names its own VM"
# the device page's boot TSC (the shell's rdtsc + the offset it measured
# while pooled, vmsetup.c) lies in the past, by less than 10^11 cycles
for n in 1 7 50; do
	b=$($LVSH -c "log hello-$n" | sed -n 's/^booted in \([0-9]*\) cycles$/\1/p')
	[ -n "$b" ] || fail "hello-$n: no cycle count: $($LVSH -c "log hello-$n")"
	$LVSH -c "log hello-$n" | grep -q "^bad boot TSC" && fail "hello-$n: $($LVSH -c "log hello-$n" | grep "^bad boot TSC")"
	[ "$b" -lt 100000000000 ] || fail "hello-$n booted in $b cycles"
done
ok "hello's boot TSC: in the past and recent"

# the agent keeps recently opened images open: a file changed in place
# or replaced under the same path is the one the next spawn runs
img_run() {  # img_run PREFIX: spawn $T/img, wait until it ends, print its state
	$LVSH -c "spawn 1 $T/img name=$1 --wait" >/dev/null || fail "spawn $T/img ($1)"
	i=0
	while ! $LVSH --json -c "list $1-1" | jq -r '.vms[0].state' | grep -Eq '^(shutoff|crashed)$'; do
		i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "$1-1 did not end"; sleep 0.1
	done
	$LVSH --json -c "list $1-1" | jq -r '.vms[0].state'
}
cp "$B/images/hello" "$T/img"
[ "$(img_run ia)" = shutoff ] && $LVSH -c "log ia-1" | grep -qx "hello from ia-1" || fail "hello by path"
cat "$B/images/crash" >"$T/img"   # the same inode, new contents
[ "$(img_run ib)" = crashed ] || fail "an image rewritten in place: the old one ran"
cp "$B/images/hello" "$T/img.new" && mv "$T/img.new" "$T/img"   # a new inode
[ "$(img_run ic)" = shutoff ] && $LVSH -c "log ic-1" | grep -qx "hello from ic-1" || fail "an image replaced by rename: the old one ran"
$LVSH -c "destroy ia-1 ib-1 ic-1" >/dev/null
ok "an image file changed or replaced: the next spawn runs the new one"

# exit codes and the flight recorder
$LVSH --json -c "inspect noop-5" >"$T/insp" || fail "inspect"
jq -e '.vms[0].phases | map(.name) | index("ready") != null' "$T/insp" >/dev/null || fail "no ready phase: $(cat "$T/insp")"
# noop's READY stands for its STARTED too (core/kvm/shell_msg.h): still
# every phase, in order, and the events spawned, started, ready
$LVSH -c "events count=3 evt-*" >"$T/evt" 2>&1 &
evp=$!
i=0   # subscribed before the spawn (a fixed 0.3 s was too short under ASan and TCG)
until grep -q "subscribe: .*selector evt-\*" "$T/agent.log" 2>/dev/null; do
	i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "the events subscription never reached the agent"; sleep 0.1
done
$LVSH -c "spawn 1 noop name=evt --wait" >/dev/null || fail "spawn evt"
i=0
while kill -0 $evp 2>/dev/null; do
	i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "events: $(cat "$T/evt")"; sleep 0.1
done
[ "$(awk '{ print $3 }' "$T/evt" | tr '\n' ' ')" = "spawned started ready " ] || fail "evt-1's events: $(cat "$T/evt")"
$LVSH --json -c "inspect evt-1" | jq -e '.vms[0].phases | map(.name) == ["request", "claimed", "loaded", "devices", "started", "ready"] and
	(map(.t_ns) | . == sort)' >/dev/null || fail "evt-1's phases: $($LVSH --json -c "inspect evt-1" | jq -c '.vms[0].phases')"
$LVSH -c "destroy evt-1" >/dev/null
ok "a noop boot: events spawned, started, ready; phases request .. ready, in order"
$LVSH -c "inspect no-such-vm" 2>/dev/null && fail "inspect of a missing VM succeeded"

# pause / unpause / shutdown
$LVSH -c "pause noop-1" || fail "pause"
[ "$(count_state paused noop-1)" = 1 ] || fail "noop-1 not paused"
$LVSH -c "unpause noop-1" || fail "unpause"
[ "$(count_state running noop-1)" = 1 ] || fail "noop-1 not running after unpause"
$LVSH -c "shutdown noop-2" || fail "shutdown"
i=0
while [ "$(count_state shutoff noop-2)" != 1 ]; do
	i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "noop-2 did not shut off"; sleep 0.1
done
ok "pause, unpause, shutdown"

# a booting shell's time slice (core/kvm/factory.h): the factory's, and so
# every shell's as it boots, is 100 µs; once its guest is ready, the kernel's
$LVSH -c "spawn 1 noop name=slc --wait" >/dev/null || fail "spawn slc"
sp=$($LVSH --json -c "inspect slc-1" | jq -r '.vms[0].pid')
fp=$(for p in $(pgrep -x lightvm-factory); do [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = "$AGENT_PID" ] && echo "$p"; done | head -n 1)
fs=$(slice "$fp")
if [ -z "$fs" ]; then
	ok "time slices: not checked (no se.slice in /proc/PID/sched on this kernel)"
elif [ "$fs" != 100000 ]; then
	ok "time slices: not checked (the kernel ignores a custom slice: the factory's is $fs ns)"
else
	i=0
	while [ "$(slice "$sp")" = 100000 ]; do
		i=$((i + 1)); [ $i -gt $((20 * TS)) ] && fail "slc-1's shell kept the boot slice"; sleep 0.05
	done
	ok "time slices: factory $fs ns, slc-1's shell (ready) $(slice "$sp") ns"
fi

# a burst's shells (core/kvm/factory.h, kvm_spread) have one CPU each
# while they boot, a single spawn's shell the agent's CPU; a single
# spawn's shell has the agent's CPUs again once ready, which the reply to
# spawn --wait comes after, a burst's once the agent is idle after it
# (kvm_driver.c, shell_booted); their records, written when the agent is
# quiet (agent/records.c, lazy_event), say running and name their shell
$LVSH -c "spawn 8 noop name=bst --wait" >/dev/null || fail "spawn bst"
want=$(cpus "$AGENT_PID")
p=$($LVSH --json -c "inspect slc-1" | jq -r '.vms[0].pid')
[ "$(cpus "$p")" = "$want" ] || fail "slc-1's shell $p: CPUs $(cpus "$p") once ready, not the agent's $want"
for p in $($LVSH --json -c "list bst-*" | jq -r '.vms[].pid'); do
	i=0
	until [ "$(cpus "$p")" = "$want" ] && { [ "$fs" != 100000 ] || [ "$(slice "$p")" != 100000 ]; }; do
		i=$((i + 1)); [ $i -gt $((50 * TS)) ] &&
			fail "burst shell $p after the burst: CPUs $(cpus "$p") (the agent's: $want), slice $(slice "$p") ns"
		sleep 0.1
	done
done
for k in 1 2 3 4 5 6 7 8; do
	p=$($LVSH --json -c "inspect bst-$k" | jq -r '.vms[0].pid')
	i=0
	until grep -qx "state running" "$STATE/vms/bst-$k.vm" 2>/dev/null &&
	      grep -qx "pid $p" "$STATE/vms/bst-$k.vm"; do
		i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "bst-$k's record: $(head -c 300 "$STATE/vms/bst-$k.vm" 2>&1)"
		sleep 0.1
	done
done
ok "burst of 8 and a single spawn: every shell back on the agent's CPUs ($want) and the kernel's slice; records say running, with the pid"

$LVSH -c "destroy all" || fail "destroy all"
[ "$($LVSH --json -c list | jq '.vms | length')" = 0 ] || fail "VMs left after destroy all"
sleep 0.3
pool=$($LVSH --json -c pool | jq '[.pools[].ready, .pools[].preparing] | add')
n=$(shell_count)
[ "$n" -le "$pool" ] || fail "$n shell processes left for a pool of $pool"
$LVSH -c "pool set 4M/1 0" >/dev/null || fail "pool set 0"
sleep 0.5
[ "$(shell_count)" = 0 ] || fail "shell processes left: $(shell_count)"
fds1=$(agent_fds)
[ "$fds1" -le "$fds0" ] || fail "agent fds grew from $fds0 to $fds1"
ls "$STATE/console" | grep -q . && fail "console logs left: $(ls "$STATE/console" | head)"
# guest memory lives in the shells (all gone); the agent must not keep any
rss1=$(rss)
[ $((rss1 - rss0)) -lt 4096 ] || asan_agent || fail "agent RSS grew from $rss0 KiB to $rss1 KiB"
ok "destroy all: no shell, fd, log or memory left (agent RSS $rss0 -> $rss1 KiB)"
# -T: each request's round trip on stderr, one line per request, the
# output itself unchanged
$LVSH -T -c "list; list" >"$T/tout" 2>"$T/terr" || fail "lvsh -T failed: $(cat "$T/terr")"
[ "$(grep -c '^lvsh: [a-z]*: [0-9]*\.[0-9]\{3\} ms (request written -> reply read)$' "$T/terr")" = 2 ] ||
	fail "lvsh -T: not one timing line per request: $(cat "$T/terr")"
$LVSH -c "list; list" >"$T/out2" 2>&1
cmp -s "$T/tout" "$T/out2" || fail "lvsh -T changed the output: $(diff "$T/tout" "$T/out2")"
ok "lvsh -T: $(head -n 1 "$T/terr")"
agent_alive

# the floor bench-ab prints beside the agent (lv-kvmfloor): a pre-created
# VM's wake-up and KVM_RUN to its first exit, on this platform too
"$B/tests/lv-kvmfloor" -n 3 -k 2 >"$T/floor" 2>"$T/floor.err" || fail "lv-kvmfloor: $(cat "$T/floor.err")"
awk -F, '$1 == "floor" && $3 > 0 && $2 >= $3 && $4 >= $2 { n++ } END { exit n != 3 }' "$T/floor" ||
	fail "lv-kvmfloor: not 3 rounds with 0 < KVM_RUN <= wake + run <= round trip: $(cat "$T/floor")"
ok "lv-kvmfloor: $(tr '\n' ' ' <"$T/floor")"
