# t_bulk.sh - bulk actions from the live view on a filtered set: 1,000 of
# 1,200 VMs paused, unpaused and destroyed with 'a' + p/u/d inside tmux
# (one request naming the 1,000, ActionReq.names); the other 200 VMs must
# not change; one crashed VM of the 1,000 is reported as a failure of its
# own.
# Also `top --json` frames with filter= and sort=.  Prints how long each
# bulk action took (from the key to the view's message).
. tests/integration/lib.sh
need_kvm
command -v tmux >/dev/null 2>&1 || skip "tmux is not installed (scripts/setup)"
command -v jq >/dev/null 2>&1 || skip "jq is not installed (scripts/setup)"
start_agent

TM="tmux -L lvbulk$$ -f /dev/null"
trap 'rc=$?; $TM kill-server 2>/dev/null; cleanup $rc' EXIT
screen() { $TM capture-pane -p -t lv 2>/dev/null; }
keys() { $TM send-keys -t lv "$@"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

$LVSH -c "spawn 999 noop name=bulk" >/dev/null || fail "spawn bulk"
$LVSH -c "spawn 1 crash name=bulk-crash --nowait" >/dev/null || fail "spawn crash"
$LVSH -c "wait bulk-crash-1 crashed $((10 * TS))" >/dev/null || fail "bulk-crash-1 did not crash"
$LVSH -c "spawn 200 noop name=keep" >/dev/null || fail "spawn keep"

$TM new-session -d -s lv -x 160 -y 45 "HOME=$T $B/lvsh -S $SOCK --no-autostart -t"
wait_for '^1200 of 1200 VMs: 1199 running'
keys / "bulk-*" Enter
wait_for "^filter 'bulk-\*' - 1000 of 1200 VMs"

keys a p
wait_for 'pause all 1000 VMs of the filter\? \(y/N\)'
t0=$(ms)
keys y
wait_for 'paused 999 VMs, 1 failed \(bulk-crash-1: is crashed\)' 30
t1=$(ms)
[ "$(count_state paused 'bulk-*')" = 999 ] || fail "bulk-*: not all paused"
[ "$(count_state running 'keep-*')" = 200 ] || fail "keep-*: changed by the pause"
ok "top: 'a p y' paused the 999 VMs of the filter (and named the crashed one) in $((t1 - t0)) ms, not the others"

t0=$(ms)
keys a u
wait_for 'unpaused 999 VMs, 1 failed \(bulk-crash-1: is crashed\)' 30
t1=$(ms)
[ "$(count_state running 'bulk-*')" = 999 ] || fail "bulk-*: not all running"
[ "$(count_state running 'keep-*')" = 200 ] || fail "keep-*: changed by the unpause"
ok "top: 'a u' unpaused them in $((t1 - t0)) ms"

# JSON frames: one object per line, the filtered set in the view's order
$LVSH --json -c "top count=2 interval=0.2 filter='bulk-*' sort=name --reverse" >"$T/frames" ||
	fail "top --json"
[ "$(wc -l <"$T/frames")" = 2 ] || fail "top --json count=2: $(wc -l <"$T/frames") lines"
jq -e -s 'length == 2 and all(.[]; .summary.vms == 1000 and .summary.total == 1200 and
	(.vms | length) == 1000 and .vms[0].name == "bulk-crash-1" and .host.vms == 1200 and
	.summary.by_state.running == 999 and .summary.by_state.crashed == 1 and .summary.filter == "bulk-*" and
	.summary.sort == "name" and .summary.reverse and (.vms[0] | has("mem_bytes", "state", "id")))' \
	"$T/frames" >/dev/null || fail "top --json frames: $(head -c 600 "$T/frames")"
ok "top --json: 2 frames of 1000 filtered VMs, sorted by name, reversed"

keys a d
wait_for 'destroy all 1000 VMs of the filter\? \(y/N\)'
t0=$(ms)
keys y
wait_for 'destroyed 1000 VMs' 60
t1=$(ms)
[ "$($LVSH --json -c 'list bulk-*' | jq '.vms | length')" = 0 ] || fail "bulk-*: VMs left"
[ "$(count_state running 'keep-*')" = 200 ] || fail "keep-*: changed by the destroy"
wait_for "^filter 'bulk-\*' - 0 of 200 VMs"
ok "top: 'a d y' destroyed the 1000 VMs of the filter in $((t1 - t0)) ms; 200 others running"

keys q
i=0
while $TM has-session -t lv 2>/dev/null; do
	i=$((i + 1)); [ $i -gt $((250 * TS)) ] && fail "lvsh did not quit"; sleep 0.02
done
$LVSH -c "destroy all" >/dev/null || fail "destroy all"
agent_alive
