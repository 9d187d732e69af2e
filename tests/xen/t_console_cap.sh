# A chatty guest cannot fill Dom0's disk: the console log stops at 1 MiB
# with a note (core/xen/xen_driver.c, XEN_LOG_CAP), as on KVM.
. tests/xen/lib.sh
need_dom0
start_agent "pool 4M/1 = 1"
$LVSH -c "spawn 1 chatty" >/dev/null || fail "spawn 1 chatty"
wait_state running chatty-1 1 || fail "chatty-1 not running: $($LVSH -c 'inspect chatty-1')"
i=0
until grep -q "console log capped at 1048576 bytes" "$STATE/console/chatty-1.log" 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 300 ] && fail "no cap after 30 s: $(stat -c %s "$STATE/console/chatty-1.log") bytes"; sleep 0.1
done
sleep 2
size=$(stat -c %s "$STATE/console/chatty-1.log")
[ "$size" -le 1048676 ] || fail "console log at $size bytes, above the 1 MiB cap"
ok "a chatty guest's console log stops at 1 MiB ($size bytes with the note)"
$LVSH -c "destroy all" >/dev/null || fail "destroy"
stop_agent
