# t_watchdog.sh - a guest that computes without a hypercall keeps running
# unless its spawn asked for a watchdog (watchdog=SEC): spin-1 is running
# after LV_SPIN_SECS (default 15; the check is 60) and shown
# busy in the live view, wd-1 with watchdog=2 is crashed with the
# watchdog's reason; the agent's default (lightvmd.conf watchdog = SEC)
# applies to spawns without watchdog=, and watchdog=0 opts out.
. tests/integration/lib.sh
need_kvm
start_agent
secs=${LV_SPIN_SECS:-15}

$LVSH -c "spawn 1 spin" >/dev/null || fail "spawn spin"
$LVSH -c "spawn 1 spin name=wd watchdog=2" >/dev/null || fail "spawn spin watchdog=2"
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

# the agent's default (lightvmd.conf watchdog = 2), and watchdog=0 for none
stop_agent
printf 'watchdog = 2\n' >"$T/wd.conf"
start_agent -f "$T/wd.conf"
$LVSH -c "spawn 1 spin name=dflt" >/dev/null || fail "spawn spin (agent default)"
$LVSH -c "spawn 1 spin name=none watchdog=0" >/dev/null || fail "spawn spin watchdog=0"
$LVSH -c "wait dflt-1 crashed 10" >/dev/null || fail "dflt-1 not crashed by the agent's watchdog = 2"
sleep 3
[ "$(count_state running none-1)" = 1 ] || fail "none-1 (watchdog=0) not running: $($LVSH -c 'inspect none-1')"
printf 'watchdog = 86401\n' >"$T/bad.conf"
"$B/lightvmd" -S "$T/x.sock" -D "$T/x" -f "$T/bad.conf" 2>&1 | grep -q "bad watchdog '86401'" ||
	fail "watchdog = 86401 accepted in the config"
ok "lightvmd.conf watchdog = 2: a spawn without watchdog= gets it; watchdog=0 opts out; 86401 refused"
$LVSH -c "destroy all" >/dev/null || fail "destroy all"
agent_alive
