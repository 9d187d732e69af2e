# Guest reboot on Xen.  `lvsh reboot` asks the guest (sysctl host_req +
# an event), the guest reboots itself (SCHEDOP_shutdown, reboot) and the
# agent rebuilds the VM in a fresh domain: the same record (name, id,
# console log), still running, a new domid in `pid`; the old domain and
# its domain file are gone.  An agent killed after a reboot (its record
# still names the old domain) finds the VM in its new domain, and can
# reboot it again.  A reboot loop ends the VM crashed.  In XenStore mode,
# with the testbed's Linux (-L), a stock guest that reboots (asked through
# control/shutdown: it never signals ready, so `lvsh reboot`, for running
# VMs, does not apply) boots again from the same kernel, ramdisk and
# command line; its console log shows both boots.
. tests/xen/lib.sh
need_dom0
start_agent "pool 4M/1 = 4"

pid_of() { $LVSH --json -c "list $1" | jq -r '.vms[0].pid'; }
# wait_pid NAME OLD: until NAME's pid is no longer OLD; prints the new one
wait_pid() {
	i=0
	while :; do
		p=$(pid_of "$1")
		[ "$p" != "$2" ] && [ "$p" -gt 0 ] 2>/dev/null && { echo "$p"; return 0; }
		i=$((i + 1)); [ $i -gt 100 ] && return 1
		sleep 0.05
	done
}

$LVSH -c "spawn 2 noop" >/dev/null || fail "spawn 2 noop"
id=$($LVSH --json -c 'list noop-1' | jq -r '.vms[0].id')
old=$(pid_of noop-1)
other=$(pid_of noop-2)
$LVSH -c "reboot noop-1" >"$T/out" || fail "reboot noop-1: $(cat "$T/out")"
new=$(wait_pid noop-1 "$old") || fail "noop-1 is still in domain $old: $($LVSH -c 'inspect noop-1')"
$LVSH --json -c 'list noop-1' >"$T/l"
[ "$(jq -r '.vms[0].state' "$T/l")" = running ] || fail "noop-1 not running after the reboot: $(cat "$T/l")"
[ "$(jq -r '.vms[0].id' "$T/l")" = "$id" ] || fail "noop-1 changed its id: $(cat "$T/l")"
grep -q "noop-1: rebooted: domain $old -> $new" "$T/agent.log" || fail "no reboot in the agent log"
xl list | awk '{ print $2 }' | grep -qx "$old" && fail "the old domain $old is still there: $(xl list)"
xl list | awk '{ print $2 }' | grep -qx "$new" || fail "the new domain $new is not there: $(xl list)"
[ -f "$STATE/xen/$new" ] && [ ! -e "$STATE/xen/$old" ] || fail "domain files: $(ls "$STATE/xen")"
[ "$(pid_of noop-2)" = "$other" ] || fail "noop-2 moved too"
i=0   # its name follows (written from the tick)
until xl list | awk -v id="$new" '$2 == id { print $1 }' | grep -qx noop-1; do
	i=$((i + 1)); [ $i -gt 30 ] && fail "xl list does not name domain $new noop-1: $(xl list)"
	sleep 0.1
done
ok "lvsh reboot: noop-1 (id $id) running again, domain $old -> $new ($(grep -o "noop-1: rebooted: .*" "$T/agent.log" | sed 's/.*(\(.*\)) in \(.*\)/\1, \2/')); the old domain is gone, xl list names the new one"

# kill -9 now: the record still says the old domain (a reboot changes no
# state, so no event rewrote it); the new agent finds the new one by
# the VM id in the domain files
kill_restart_agent "pool 4M/1 = 4"
[ "$(count_state running 'noop-*')" = 2 ] || fail "not 2 noop running after the restart: $($LVSH -c list)"
[ "$(pid_of noop-1)" = "$new" ] || fail "noop-1 re-attached to domain $(pid_of noop-1), not $new"
grep -q "noop-1: re-attached to domain $new" "$T/agent.log" || fail "no re-attach in the log: $(grep noop-1 "$T/agent.log")"
grep -q "noop-1: its record says domain $old; rebooted since into domain $new" "$T/agent.log" ||
	fail "the record was not stale? $(grep noop-1 "$T/agent.log")"
ok "kill -9 and a new agent: noop-1 running, re-attached to domain $new (its record said $old: found by its VM id)"

$LVSH -c "pause noop-1" >/dev/null && $LVSH -c "unpause noop-1" >/dev/null || fail "pause/unpause after the reboot"
[ "$(count_state running noop-1)" = 1 ] || fail "noop-1 not running after unpause"
ok "pause and unpause act on the new domain"

$LVSH -c "reboot noop-1" >/dev/null || fail "reboot after the restart"
new2=$(wait_pid noop-1 "$new") || fail "noop-1 did not reboot after the restart: $(tail -n 5 "$T/agent.log")"
[ "$(count_state running noop-1)" = 1 ] || fail "noop-1 not running after its second reboot"
$LVSH -c "shutdown noop-1" >/dev/null || fail "shutdown"
wait_state shutoff noop-1 1 || fail "noop-1 did not shut off after the reboots"
[ "$($LVSH --json -c 'list noop-1' | jq -r '.vms[0].exit_code')" = 0 ] || fail "exit code"
ok "reboot after the restart (image opened by name): domain $new -> $new2; then shutdown: shutoff, exit code 0"

# a reboot loop: REBOOT_MAX (10) reboots within 10 s are fine, one more is a crash
$LVSH -c "spawn 1 noop name=loop" >/dev/null || fail "spawn loop"
t0=$(date +%s)
p=$(pid_of loop-1)
for k in 1 2 3 4 5 6 7 8 9 10; do
	$LVSH -c "reboot loop-1" >/dev/null || fail "reboot $k of loop-1: $($LVSH -c 'inspect loop-1')"
	p=$(wait_pid loop-1 "$p") || fail "loop-1 did not reboot ($k)"
done
secs=$(( $(date +%s) - t0 ))
if [ "$secs" -lt 9 ]; then
	[ "$(count_state running loop-1)" = 1 ] || fail "loop-1 not running after 10 reboots"
	$LVSH -c "reboot loop-1" >/dev/null || fail "reboot 11"
	wait_state crashed loop-1 1 50 || fail "an 11th reboot within 10 s did not crash loop-1: $($LVSH -c 'inspect loop-1')"
	$LVSH -c "inspect loop-1" | grep -q "reboot loop" || fail "no reason: $($LVSH -c 'inspect loop-1')"
	xl list | awk '{ print $2 }' | grep -qx "$p" && fail "loop-1's domain $p is left"
	ok "10 reboots in ${secs}s, the 11th: crashed ($($LVSH --json -c 'list loop-1' | jq -r '.vms[0].reason'))"
else
	echo "note: 10 reboots took ${secs}s here (>= 9 s): the reboot-loop check was not tried"
fi

destroy_all_empty
ok "destroy all: only Domain-0 is left"

if [ -f /testbed/vmlinux ]; then
	stop_agent
	export LIGHTVM_XEN_MODE=xenstore
	start_agent "pool 4M/1 = 0"
	$LVSH -c "spawn 1 /testbed/vmlinux mem=128M name=linux ramdisk=/testbed/linux-initrd.gz cmdline='lvtest=42' --nowait" >"$T/out" 2>&1 ||
		fail "spawn linux: $(cat "$T/out")"
	# boots N: until the console log shows the guest's init N times
	boots() {
		i=0
		until [ "$($LVSH -c 'log linux-1' 2>/dev/null | grep -c '^LINUX-GUEST-UP')" -ge "$1" ]; do
			i=$((i + 1))
			[ $i -gt 1200 ] && fail "Linux did not reach its init ($1): $($LVSH -c 'log linux-1' | tail -5)"
			[ "$(count_state crashed linux-1)" = 1 ] && fail "Linux crashed: $($LVSH -c 'inspect linux-1')"
			sleep 0.1
		done
	}
	boots 1
	old=$(pid_of linux-1)
	xenstore-write /local/domain/$old/control/shutdown reboot ||
		fail "cannot write control/shutdown of domain $old"
	new=$(wait_pid linux-1 "$old") || fail "Linux did not reboot: $($LVSH -c 'log linux-1' | tail -5)"
	boots 2
	$LVSH -c "log linux-1" >"$T/linux.log"
	[ "$(grep -c 'Kernel command line:.* lvtest=42' "$T/linux.log")" = 2 ] ||
		fail "the command line is not the same twice: $(grep 'Kernel command line' "$T/linux.log")"
	[ "$(xenstore-read /local/domain/$new/name)" = linux-1 ] || fail "no XenStore entries for domain $new"
	xl list | awk '{ print $2 }' | grep -qx "$old" && fail "Linux's old domain $old is still there"
	ok "XenStore mode, stock Linux: rebooted (control/shutdown), domain $old -> $new, booted twice to its init with the same ramdisk and command line ($(grep -c '^LINUX-GUEST-UP' "$T/linux.log") x LINUX-GUEST-UP in one console log)"
	$LVSH -c "destroy all" >/dev/null
	sleep 0.5
	[ "$(xen_domains)" = 1 ] || fail "domains left: $(xl list)"
else
	echo "note: no /testbed/vmlinux (run the testbed with -L): the console-shows-two-boots check was not tried"
fi
