# t_watchdog.sh - a guest that computes without a hypercall keeps running
# unless its spawn asked for a watchdog (watchdog=SEC): spin-1 is running
# after LV_SPIN_SECS (default 15; the check is 60) and shown
# busy in the live view, wd-1 with watchdog=2 is crashed with the
# watchdog's reason.
. tests/integration/lib.sh
need_kvm
start_agent
secs=${LV_SPIN_SECS:-15}

$LVSH -c "spawn 1 spin" >/dev/null || fail "spawn spin"
$LVSH -c "spawn 1 spin name=wd watchdog=2" >/dev/null || fail "spawn spin watchdog=2"
$LVSH -c "spawn 1 spin name=bad watchdog=0" >/dev/null 2>&1 && fail "watchdog=0 accepted"
$LVSH -c "spawn 1 spin name=bad watchdog=86401" >/dev/null 2>&1 && fail "watchdog=86401 accepted"
$LVSH -c "wait wd-1 crashed 10" >/dev/null || fail "wd-1 not crashed: $($LVSH -c 'inspect wd-1')"
$LVSH -c "inspect wd-1" | grep -qx 'reason: watchdog: no hypercall for 2 s' ||
	fail "wd-1 reason: $($LVSH -c 'inspect wd-1' | grep reason)"
ok "watchdog=2: the spinning guest is crashed, reason 'watchdog: no hypercall for 2 s'"

sleep "$secs"
[ "$(count_state running spin-1)" = 1 ] || fail "spin-1 not running after ${secs}s: $($LVSH -c 'inspect spin-1')"
cpu=$($LVSH --json -c "stats spin-1" | jq ".vms[0].cpu_ns / 1e9 | floor")
[ "$cpu" -ge $((secs / 4)) ] || fail "spin-1 used only ${cpu}s of CPU in ${secs}s"
$LVSH -c "top count=2 filter=spin-1" | grep -Eq '^spin-1 +[0-9]+ busy +spin ' ||
	fail "the live view does not show spin-1 busy: $($LVSH -c 'top count=2 filter=spin-1')"
ok "no watchdog: spin-1 still running after ${secs}s (${cpu}s of CPU), shown busy in the live view"

$LVSH -c "destroy all" >/dev/null || fail "destroy all"
agent_alive
