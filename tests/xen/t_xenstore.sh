# XenStore mode (LIGHTVM_XEN_MODE=xenstore): the entries a stock PV guest
# expects, the domain introduced to xenstored, names in `xl list`; hello's
# console still served by the agent; a stock Linux PV guest (the testbed's
# kernel, when the testbed has it) boots with the testbed's initrd
# (spawn ramdisk= cmdline=) to its init; stats from libxenstat.
. tests/xen/lib.sh
need_dom0
export LIGHTVM_XEN_MODE=xenstore
start_agent "pool 4M/1 = 2"
grep -q "XenStore mode" "$T/agent.log" || fail "agent not in XenStore mode"

$LVSH -c "spawn 3 noop" >/dev/null || fail "spawn 3 noop"
pid=$($LVSH --json -c 'list noop-2' | jq -r '.vms[0].pid')
[ "$(xenstore-read /local/domain/$pid/name)" = noop-2 ] || fail "no name in XenStore for domain $pid"
[ -n "$(xenstore-read /local/domain/$pid/console/ring-ref)" ] || fail "no console entries"
xl list | awk '{ print $1 }' | grep -qx noop-3 || fail "xl list does not show noop-3: $(xl list)"
ok "XenStore entries, xl list shows the names"

$LVSH -c "spawn 2 hello" >/dev/null || fail "spawn 2 hello"
wait_state shutoff 'hello-*' 2 || fail "hello did not shut off"
$LVSH -c "log hello-2" | grep -qx "hello from hello-2" || fail "hello-2 console: $($LVSH -c 'log hello-2')"
ok "hello console in XenStore mode"

$LVSH -c "spawn 1 spin" >/dev/null || fail "spawn 1 spin"
wait_state running spin-1 1 || fail "spin-1 not running"
sleep 1.5
$LVSH --json -c stats >"$T/stats" || fail "stats"
jq -e '[.vms[] | select(.name == "spin-1" and .cpu_ns > 500000000)] | length == 1' "$T/stats" >/dev/null ||
	fail "spin-1 has no CPU time: $(jq -c '.vms[] | select(.name == "spin-1")' "$T/stats")"
jq -e '[.vms[] | select(.state == "running" and (.rss_bytes // 0) < 4000000)] | length == 0' "$T/stats" >/dev/null ||
	fail "a running VM without its memory: $(jq -c '[.vms[] | select(.state == "running")][0:3]' "$T/stats")"
grep -q "live stats from libxenstat" "$T/agent.log" || fail "stats not from libxenstat: $(grep 'xen:' "$T/agent.log" | tail -3)"
ok "lvsh stats from libxenstat: CPU of a spinning guest $(jq '.vms[] | select(.name == "spin-1") | .cpu_ns / 1e6 | floor' "$T/stats") ms, memory of all running"

$LVSH -c "destroy all" >/dev/null || fail "destroy all"
xenstore-read /local/domain/$pid/name >/dev/null 2>&1 && fail "entries of domain $pid left"
ok "entries removed on destroy"

if [ -f /testbed/vmlinux ]; then
	# with the testbed's busybox initrd and extra kernel arguments: to its init
	$LVSH -c "spawn 1 /testbed/vmlinux mem=128M name=linux ramdisk=/testbed/linux-initrd.gz cmdline='lvtest=42' --nowait" >"$T/out" 2>&1 ||
		fail "spawn linux: $(cat "$T/out")"
	i=0
	until $LVSH -c "log linux-1" 2>/dev/null | grep -q "^LINUX-GUEST-UP"; do
		i=$((i + 1))
		[ $i -gt 1200 ] && fail "Linux did not reach its init: $($LVSH -c 'log linux-1' | tail -5)"
		[ "$(count_state crashed linux-1)" = 1 ] && fail "Linux crashed: $($LVSH -c 'log linux-1' | tail -5)"
		sleep 0.1
	done
	$LVSH -c "log linux-1" >"$T/linux.log"
	grep -q "Kernel command line:.* lvtest=42" "$T/linux.log" ||
		fail "the extra arguments are not on the command line: $(grep 'Kernel command line' "$T/linux.log")"
	st=$($LVSH --json -c 'list linux-1' | jq -r '.vms[0].state')
	[ "$st" = booting ] || [ "$st" = running ] || fail "linux-1 is $st"
	ok "a stock Linux PV guest with ramdisk= and cmdline= boots through lightvmd in XenStore mode to its init: $(grep '^LINUX-GUEST-UP' "$T/linux.log") ($(wc -l <"$T/linux.log") console lines)"
	$LVSH -c "destroy all" >/dev/null
else
	echo "note: no /testbed/vmlinux (run the testbed with -L): Linux guest not tried"
fi
