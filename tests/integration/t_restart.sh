# Restarts lose nothing: kill -9 of the agent in the middle of `spawn 1000
# noop`, then a new agent: every VM is running and listed, or cleaned up;
# no shell, record or console log is orphaned; stats and events resume.
# Then corrupt records (truncated, garbage, wrong version) are skipped
# with a warning while the others are re-attached.
. tests/integration/lib.sh
need_kvm
start_agent

restart() {  # kill -9 the agent, start a new one on the same state
	kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
	rm -f "$SOCK"
	start_agent
}
listed() { $LVSH --json -c list | jq -r '.vms[] | "\(.pid) \(.name) \(.state)"'; }
settle() {  # until no VM is prepared or booting (re-attach, clean-up)
	i=0
	while listed | grep -Eq ' (prepared|booting)$'; do
		i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "VMs stuck: $(listed | grep -E 'prepared|booting' | head -3)"
		sleep 0.1
	done
}
check_consistent() {  # $1: what
	$LVSH -c "pool set 4M/1 0" >/dev/null || fail "pool set 0"
	i=0   # old pooled shells exit on EOF, half-created ones are destroyed
	while [ "$(test_shells | wc -l)" != "$(listed | wc -l)" ]; do
		i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "$1: $(test_shells | wc -l) shells for $(listed | wc -l) VMs: extra $(test_shells | sort > $T/s1; listed | awk "{print \$1}" | sort > $T/s2; comm -23 $T/s1 $T/s2 | head -3) pool $($LVSH -c pool | tail -1)"
		sleep 0.1
	done
	listed >"$T/listed"
	bad=$(grep -v ' running$' "$T/listed" | head -3)
	[ -z "$bad" ] || fail "$1: listed but not running: $bad"
	test_shells | sort >"$T/shells"
	awk '{print $1}' "$T/listed" | sort >"$T/pids"
	cmp -s "$T/shells" "$T/pids" || fail "$1: shells and listed VMs differ: $(diff "$T/shells" "$T/pids" | head -4)"
	nrec=$(ls "$STATE/vms" | grep -c '\.vm$')
	[ "$nrec" = "$(wc -l <"$T/listed")" ] || fail "$1: $nrec records for $(wc -l <"$T/listed") VMs"
	ls -a "$STATE/vms" | grep -q '\.tmp$' && fail "$1: temporary record left"
	nlog=$(ls "$STATE/console" | grep -c '^[^.].*\.log$')
	[ "$nlog" = "$(wc -l <"$T/listed")" ] || fail "$1: $nlog console logs for $(wc -l <"$T/listed") VMs: $(ls "$STATE/console" | grep '^[^.].*\.log$' | sed 's/\.log$//' | sort >"$T/lognames"; awk '{print $2}' "$T/listed" | sort | comm -3 "$T/lognames" - | head -3 | tr -d '\t')"
}

# ---- kill -9 in the middle of spawn 1000 (200 when emulated: the
# testbed's TCG took 10+ minutes over 1000)
NSPAWN=1000; [ "$TS" -gt 1 ] && NSPAWN=200
$LVSH -c "spawn $NSPAWN noop" >"$T/spawn.out" 2>&1 &
SPAWN=$!
i=0
# (by order, not time: some VMs run, the spawn is not done)
while [ "$(count_state running 2>/dev/null || echo 0)" -lt 5 ]; do
	i=$((i + 1)); [ $i -gt $((200 * TS)) ] && fail "spawn did not start"; sleep 0.02
done
restart
wait $SPAWN 2>/dev/null
settle
n=$(listed | wc -l)
[ "$n" -gt 0 ] || fail "no VM survived the restart"
check_consistent "after kill -9 mid-spawn"
ok "kill -9 mid-spawn: $n VMs re-attached and running, the rest cleaned up; shells = records = logs = listed"

# ---- stats and events resume
$LVSH --json -c "stats" >"$T/stats" || fail "stats after restart"
[ "$(jq '.vms | length' "$T/stats")" = "$n" ] || fail "stats lists $(jq '.vms | length' "$T/stats") VMs, not $n"
jq -e '[.vms[] | select(.rss_bytes > 0)] | length > 0' "$T/stats" >/dev/null || fail "no RSS in stats: $(head -c 300 "$T/stats")"
first=$(listed | head -n1 | awk '{print $2}')
# no count=: pool events (no VM) pass a VM selector and would take places
$LVSH -c "events $first" >"$T/ev" 2>&1 &
EV=$!
tsleep 0.5
$LVSH -c "pause $first; wait $first paused 5; unpause $first; wait $first running 5" >/dev/null || fail "pause/unpause after restart"
i=0
until grep -q " paused $first" "$T/ev" && grep -q "unpaused $first" "$T/ev"; do
	i=$((i + 1)); [ $i -gt $((50 * TS)) ] && { kill $EV; fail "events did not arrive: $(cat "$T/ev")"; }
	sleep 0.1
done
kill $EV; wait $EV 2>/dev/null || true
ok "stats and events resume"

# ---- a second restart keeps them all (nothing half-created now)
restart
settle
[ "$(listed | wc -l)" = "$n" ] || fail "second restart: $(listed | wc -l) VMs, not $n"
grep -q "re-attached to shell" "$T/agent.log" || fail "no re-attach logged"
check_consistent "after a second restart"
ok "second restart: all $n VMs re-attached"

# ---- corrupt records are skipped, the others re-attached
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
rm -f "$SOCK"
rec=$(ls "$STATE/vms" | grep '\.vm$' | head -n1)
head -c 60 "$STATE/vms/$rec" >"$STATE/vms/trunc-1.vm"
head -c 300 /dev/urandom >"$STATE/vms/garbage-1.vm"
sed 's/^lightvm-vm 1$/lightvm-vm 99/' "$STATE/vms/$rec" >"$STATE/vms/future-1.vm"
start_agent
settle
for f in trunc-1 garbage-1 future-1; do
	grep -q "state record .*/$f.vm: .*skipped" "$T/agent.log" || fail "no warning for $f: $(grep 'state record' "$T/agent.log" | tail -3)"
	[ -f "$STATE/vms/$f.vm.bad" ] || fail "$f not set aside"
done
[ "$(listed | wc -l)" = "$n" ] || fail "with corrupt records: $(listed | wc -l) VMs, not $n"
check_consistent "with corrupt records"
ok "truncated, garbage and wrong-version records skipped with a warning; $n VMs re-attached"

# ---- a VM that dies while the agent is down is reported
victim=$(listed | tail -n1)
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
rm -f "$SOCK"
kill -9 "${victim%% *}"
start_agent
settle
vn=$(echo "$victim" | awk '{print $2}')
$LVSH --json -c "inspect $vn" | jq -e '.vms[0].state == "crashed" and (.vms[0].reason | test("agent was down"))' >/dev/null ||
	fail "$vn: $($LVSH --json -c "inspect $vn")"
ok "a VM that died while the agent was down is listed as crashed"

# ---- VMs that end while no agent runs keep their reason and exit code;
# event sequence numbers go on across a kill -9
seq_of() { jq -r '.seq' "$1" | sort -n | sed -n "$2"; }
$LVSH --json -c "events count=1" >"$T/ev1" &
EV=$!
tsleep 0.3
$LVSH -c "spawn 1 noop name=seqa" >/dev/null || fail "spawn seqa"
wait $EV
s1=$(seq_of "$T/ev1" '$p')
# pooled shells stopped, so the EXEC of hello and crash waits until the
# agent is gone; then they run, end, and wait for the next agent
$LVSH -c "pool set 4M/1 2" >/dev/null || fail "pool set 2"
i=0
while [ "$($LVSH --json -c pool | jq '[.pools[] | select(.flavor == "4M/1")][0].ready')" != 2 ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "pool did not fill: $($LVSH -c pool)"; sleep 0.1
done
listed | awk '{print $1}' | sort >"$T/pids"
pooled=$(test_shells | sort | comm -23 - "$T/pids")
[ "$(echo $pooled | wc -w)" = 2 ] || fail "pooled shells: $pooled"
kill -STOP $pooled
$LVSH -c "spawn 1 hello name=lh" >/dev/null 2>&1 &
SP1=$!
$LVSH -c "spawn 1 crash name=lc" >/dev/null 2>&1 &
SP2=$!
i=0
while [ ! -s "$STATE/vms/lh-1.vm" ] || [ ! -s "$STATE/vms/lc-1.vm" ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "hello/crash not recorded"; sleep 0.05
done
tsleep 0.2
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
wait $SP1 $SP2 2>/dev/null
rm -f "$SOCK"
kill -CONT $pooled
tsleep 1   # the guests end; their shells linger, listening
for p in $pooled; do
	[ "$(cat /proc/$p/comm 2>/dev/null)" = lightvm-shell ] || fail "shell $p did not linger"
done
start_agent
settle
$LVSH --json -c "inspect lh-1" | jq -e '.vms[0].state == "shutoff" and .vms[0].exit_code == 0 and (.vms[0].reason | test("powered off"))' >/dev/null ||
	fail "lh-1: $($LVSH --json -c "inspect lh-1")"
$LVSH --json -c "inspect lc-1" | jq -e '.vms[0].state == "crashed" and (.vms[0].reason | test("#PF"))' >/dev/null ||
	fail "lc-1: $($LVSH --json -c "inspect lc-1")"
grep -q "lh-1: ended while the agent was down" "$T/agent.log" || fail "no linger hand-over logged"
i=0
while [ -n "$(for p in $pooled; do [ -d /proc/$p ] && echo $p; done)" ]; do
	i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "lingering shells did not exit"; sleep 0.1
done
ok "hello powered off and crash crashed while no agent ran: reasons and exit code kept"

# ---- the same when the EXIT reached a stopped agent that was then killed
# (sent, never read: the shell waits for the agent's EXIT_ACK, else lingers)
$LVSH -c "pool set 4M/1 1" >/dev/null || fail "pool set 1"
i=0
while [ "$($LVSH --json -c pool | jq '[.pools[] | select(.flavor == "4M/1")][0].ready')" != 1 ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "pool did not fill: $($LVSH -c pool)"; sleep 0.1
done
listed | awk '{print $1}' | sort >"$T/pids"
pooled=$(test_shells | sort | comm -23 - "$T/pids")
[ "$(echo $pooled | wc -w)" = 1 ] || fail "pooled shell: $pooled"
kill -STOP $pooled
$LVSH -c "spawn 1 hello name=lq" >/dev/null 2>&1 &
SP1=$!
i=0
while [ ! -s "$STATE/vms/lq-1.vm" ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "lq-1 not recorded"; sleep 0.05
done
tsleep 0.2
kill -STOP "$AGENT_PID"
kill -CONT $pooled
tsleep 0.5  # hello ends; its EXIT waits, unread, in the stopped agent's socket
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
wait $SP1 2>/dev/null
rm -f "$SOCK"
tsleep 0.2
[ "$(cat /proc/$pooled/comm 2>/dev/null)" = lightvm-shell ] || fail "shell $pooled did not linger"
start_agent
settle
$LVSH --json -c "inspect lq-1" | jq -e '.vms[0].state == "shutoff" and .vms[0].exit_code == 0 and (.vms[0].reason | test("powered off"))' >/dev/null ||
	fail "lq-1: $($LVSH --json -c "inspect lq-1")"
ok "an EXIT that a stopped, then killed agent never read is handed to the next one"

$LVSH --json -c "events count=1" >"$T/ev2" &
EV=$!
tsleep 0.3
$LVSH -c "spawn 1 noop name=seqb" >/dev/null || fail "spawn seqb"
wait $EV
s2=$(seq_of "$T/ev2" 1p)
[ -n "$s1" ] && [ -n "$s2" ] && [ "$s2" -gt "$s1" ] || fail "event sequence went back: $s1 before kill -9, $s2 after"
[ -s "$STATE/events.seq" ] || fail "no events.seq"
ok "event sequence numbers go on across kill -9 ($s1, then $s2)"

$LVSH -c "pool set 4M/1 0; destroy all" >/dev/null || fail "destroy all"
i=0
while [ -n "$(test_shells)" ]; do i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "shells left: $(test_shells | head)"; sleep 0.1; done
[ -z "$(ls "$STATE/vms" | grep '\.vm$')" ] || fail "records left: $(ls "$STATE/vms" | head)"
ok "destroy all: no shell and no record left"
agent_alive
