# noxs mode (no XenStore on the spawn path): 100 noop VMs spawned, listed,
# inspected, paused, unpaused, shut down and destroyed; hello consoles
# through the PV console ring; a crashing guest ends crashed; the pool;
# names written to XenStore off the spawn path (xl list shows them, the
# pool's domains as lv-pool-DOMID), so live stats come from libxenstat.
. tests/xen/lib.sh
need_dom0
start_agent "pool 4M/1 = 16"
$LVSH -c host | grep -q "driver: xen" || fail "agent not on the xen driver: $($LVSH -c host)"

d0=$(xen_domains)
$LVSH -c "spawn 100 noop" >"$T/out" || fail "spawn 100 noop: $(cat "$T/out")"
[ "$(count_state running 'noop-*')" = 100 ] || fail "not 100 running noop VMs: $($LVSH -c list | head)"
d1=$(xen_domains)
[ $((d1 - d0)) -ge 100 ] || fail "xl list shows $d0 then $d1 domains"
ok "100 noop running ($((d1 - 1)) domains besides Dom0, pool included)"

$LVSH --json -c "inspect noop-5" >"$T/insp" || fail "inspect"
jq -e '.vms[0].phases | map(.name) | index("ready") != null' "$T/insp" >/dev/null ||
	fail "no ready phase: $(cat "$T/insp")"
[ "$($LVSH --json -c 'list noop-1' | jq -r '.vms[0].pooled')" = true ] || fail "noop-1 not from the pool"
pid=$($LVSH --json -c 'list noop-7' | jq -r '.vms[0].pid')
xl list | awk '{ print $2 }' | grep -qx "$pid" || fail "noop-7's domid $pid is not a domain"
ok "inspect: phases, pooled, pid = domid"

grep -q "xenstored runs: domain names written to XenStore" "$T/agent.log" ||
	fail "the agent does not name noxs domains: $(grep 'xen:' "$T/agent.log" | head -5)"
i=0   # written by the names thread once the burst is over
until xl list | awk -v id="$pid" '$2 == id { print $1 }' | grep -qx noop-7; do
	i=$((i + 1)); [ $i -gt 30 ] && fail "xl list does not show noop-7 (domain $pid): $(xl list | awk -v id="$pid" '$2 == id')"
	sleep 0.1
done
[ "$(xenstore-read /local/domain/$pid/name)" = noop-7 ] || fail "no name in XenStore for domain $pid"
[ -z "$(xenstore-ls /local/domain/$pid 2>/dev/null | grep -v '^name = ')" ] ||
	fail "more than a name in XenStore for domain $pid: $(xenstore-ls /local/domain/$pid)"
xl list | awk '{ print $1 }' | grep -q '^lv-pool-[0-9]*$' || fail "no pool domain named lv-pool-DOMID: $(xl list | head)"
ok "xl list shows the VMs by name (noop-7 is domain $pid) and the pool's domains as lv-pool-DOMID; only /local/domain/DOMID/name in XenStore"

$LVSH -c "pause noop-1*" >/dev/null || fail "pause"
[ "$(count_state paused 'noop-1*')" = 12 ] || fail "noop-1* not paused: $($LVSH -c 'list noop-1*')"
pid=$($LVSH --json -c 'list noop-10' | jq -r '.vms[0].pid')
xl list | awk -v id="$pid" '$2 == id { print $5 }' | grep -q p ||
	fail "Xen does not see noop-10 (domain $pid) paused: $(xl list | awk -v id="$pid" '$2 == id')"
$LVSH -c "unpause noop-1*" >/dev/null || fail "unpause"
[ "$(count_state running 'noop-*')" = 100 ] || fail "not all running after unpause"
ok "pause, unpause"

$LVSH -c "shutdown noop-2" >/dev/null || fail "shutdown"
wait_state shutoff noop-2 1 || fail "noop-2 did not shut off"
[ "$($LVSH --json -c 'list noop-2' | jq -r '.vms[0].exit_code')" = 0 ] || fail "exit code"
ok "shutdown through the sysctl device"

$LVSH -c "spawn 5 hello" >/dev/null || fail "spawn 5 hello"
wait_state shutoff 'hello-*' 5 || fail "hello VMs did not shut off: $($LVSH -c 'list hello-*')"
for n in 1 2 3 4 5; do
	$LVSH -c "log hello-$n" | grep -qx "hello from hello-$n" || fail "hello-$n console: $($LVSH -c "log hello-$n")"
done
$LVSH -c "log hello-3" | grep -Eq '^booted in [0-9]+ cycles$' || fail "no cycle count"
ok "hello consoles (PV console ring served by the agent)"

$LVSH -c "spawn 1 crash" >/dev/null 2>&1
wait_state crashed crash-1 1 || fail "crash-1 did not end crashed: $($LVSH -c 'inspect crash-1')"
$LVSH -c "inspect crash-1" | grep -q "crash" || fail "no reason"
ok "a crashing guest ends crashed"

$LVSH -c "spawn 1 spin" >/dev/null || fail "spawn 1 spin"
wait_state running spin-1 1 || fail "spin-1 not running"
sleep 1.5
i=0   # samples are taken by the agent's stats thread while stats are asked for
while :; do
	$LVSH --json -c stats >"$T/stats" || fail "stats"
	grep -q "live stats from libxenstat (noxs mode)" "$T/agent.log" &&
		jq -e '[.vms[] | select(.name == "spin-1" and .cpu_ns > 500000000)] | length == 1' "$T/stats" >/dev/null && break
	i=$((i + 1)); [ $i -gt 50 ] && break
	sleep 0.2
done
jq -e '[.vms[] | select(.name == "spin-1" and .cpu_ns > 500000000)] | length == 1' "$T/stats" >/dev/null ||
	fail "spin-1 has no CPU time: $(jq -c '.vms[] | select(.name == "spin-1")' "$T/stats")"
jq -e '[.vms[] | select(.state == "running" and (.rss_bytes // 0) < 4000000)] | length == 0' "$T/stats" >/dev/null ||
	fail "a running VM without its memory: $(jq -c '[.vms[] | select(.state == "running")][0:3]' "$T/stats")"
# (Xen itself reports 0 ns for many idle noop domains here, before and
# after names existed; the spinning guest above checks the CPU figures)
jq -e '[.vms[] | select((.name | startswith("noop-")) and .cpu_ns > 0)] | length > 0' "$T/stats" >/dev/null ||
	fail "no noop VM has CPU time: $(jq -c '[.vms[] | select(.name | startswith("noop-"))][0:3]' "$T/stats")"
grep -q "live stats from libxenstat (noxs mode)" "$T/agent.log" ||
	fail "stats not from libxenstat: $(grep 'xen:.*stats' "$T/agent.log" | tail -3)"
grep -q "live stats from the domain scan" "$T/agent.log" &&
	fail "stats fell back to the domain scan: $(grep 'live stats' "$T/agent.log")"
ok "lvsh stats: CPU of a spinning guest $(jq '.vms[] | select(.name == "spin-1") | .cpu_ns / 1e6 | floor' "$T/stats") ms, memory of all running; $(grep -o 'live stats from libxenstat.*' "$T/agent.log" | head -n1)"

$LVSH -c "destroy all" >/dev/null || fail "destroy all"
[ "$($LVSH --json -c list | jq '.vms | length')" = 0 ] || fail "VMs left after destroy all"
$LVSH -c "pool set 4M/1 0" >/dev/null || fail "pool set 0"
sleep 0.5
[ "$(xen_domains)" = 1 ] || fail "domains left: $(xl list)"
ls "$STATE/console" | grep -q . && fail "console logs left: $(ls "$STATE/console" | head)"
i=0   # the names go by the names thread too
while [ "$(xenstore-list /local/domain | grep -vx 0)" ]; do
	i=$((i + 1)); [ $i -gt 30 ] && fail "names left in XenStore: $(xenstore-list /local/domain | head)"
	sleep 0.1
done
ok "destroy all and an empty pool leave only Domain-0 (and nothing of ours in XenStore)"
