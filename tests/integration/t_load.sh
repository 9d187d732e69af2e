# Load: 32 concurrent clients doing spawn/destroy/list/inspect/subscribe
# for 60 s (at most 8 VMs each): every request answered, no VM lost or
# duplicated, and the agent's RSS is back where it was after the run.
. tests/integration/lib.sh
need_kvm
start_agent
LOAD=$B/tests/lv-load
SECS=${LV_LOAD_SECS:-60}
rss() { awk '/VmRSS/ {print $2}' /proc/"$AGENT_PID"/status; }
# a short warm-up run, so that allocator pools and tables exist
timeout 60 "$LOAD" "$SOCK" 32 3 >"$T/warm" 2>&1 || fail "warm-up: $(tail -5 "$T/warm")"
sleep 1
rss0=$(rss)
timeout $((SECS + 90)) "$LOAD" "$SOCK" 32 "$SECS" >"$T/load" 2>&1 || fail "load: $(grep -v ': .* ok$' "$T/load" | tail -8)"
total=$(awk '/requests/ {s += $3} END {print s}' "$T/load")
ok "32 clients x ${SECS}s: $total requests, all answered, no VM lost or duplicated"
[ "$($LVSH --json -c list | jq '.vms | length')" = 0 ] || fail "VMs left after the run"
sleep 1
rss1=$(rss)
[ $((rss1 - rss0)) -lt 8192 ] || asan_agent || fail "agent RSS grew from $rss0 KiB to $rss1 KiB"
ok "agent RSS $rss0 -> $rss1 KiB"
agent_alive
