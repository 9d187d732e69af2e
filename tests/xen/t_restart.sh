# The agent restarted (kill -9) finds its domains again: VMs listed and
# running, consoles kept, pause/shutdown work on re-attached VMs, and the
# old agent's pool domains are destroyed, not leaked.
. tests/xen/lib.sh
need_dom0
start_agent "pool 4M/1 = 4"
$LVSH -c "spawn 20 noop" >/dev/null || fail "spawn 20 noop"
$LVSH -c "spawn 2 hello" >/dev/null || fail "spawn 2 hello"
wait_state shutoff 'hello-*' 2 || fail "hello did not shut off"
sleep 0.5    # the pool refills
d0=$(xen_domains)

kill_restart_agent "pool 4M/1 = 4"
[ "$(count_state running 'noop-*')" = 20 ] || fail "not 20 noop running after the restart: $($LVSH -c list | head)"
[ "$(count_state shutoff 'hello-*')" = 2 ] || fail "hello records lost"
$LVSH -c "log hello-2" | grep -qx "hello from hello-2" || fail "hello-2 console lost: $($LVSH -c 'log hello-2')"
ok "20 noop running and 2 hello listed after kill -9 and a new agent"

$LVSH -c "pause noop-3" >/dev/null || fail "pause after re-attach"
[ "$(count_state paused noop-3)" = 1 ] || fail "noop-3 not paused"
$LVSH -c "unpause noop-3" >/dev/null || fail "unpause"
$LVSH -c "shutdown noop-4" >/dev/null || fail "shutdown after re-attach"
wait_state shutoff noop-4 1 || fail "noop-4 did not shut off (sysctl after re-attach)"
ok "pause, unpause, shutdown of re-attached VMs"

sleep 0.5
d1=$(xen_domains)
[ "$d1" -le "$d0" ] || fail "domains grew from $d0 to $d1 across the restart (old pool leaked?)"
destroy_all_empty
ok "no domain leaked across the restart"
