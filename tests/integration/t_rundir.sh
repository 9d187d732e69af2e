# The shells' sockets live in the agent's run directory (SOCKET minus
# .sock, plus .run; core/kvm/kvm_driver.c sock_dir_setup).  One that is
# not the agent's own (a link, a directory others may write) is refused
# with a warning and the shells listen in STATE/shells, as an older agent
# had them; a later agent with its run directory finds those shells
# there and re-attaches them.
. tests/integration/lib.sh
need_kvm

mkdir "$T/elsewhere"
ln -s "$T/elsewhere" "$RUN"
start_agent
grep -q "run directory $RUN: not a directory; the shells listen in $STATE/shells" "$T/agent.log" ||
	fail "no warning about the linked run directory: $(grep -i 'run directory' "$T/agent.log")"
$LVSH -c "spawn 2 noop name=old --wait" >/dev/null || fail "spawn with the run directory refused"
p=$($LVSH --json -c "inspect old-1" | jq -r '.vms[0].pid')
[ -S "$STATE/shells/$p.sock" ] || fail "old-1's shell does not listen in $STATE/shells: $(ls "$STATE/shells")"
[ -z "$(ls -A "$T/elsewhere")" ] || fail "something was made through the link: $(ls -A "$T/elsewhere")"
ok "a linked run directory: refused, shells in STATE/shells"

# the next agent (its run directory usable now) re-attaches them there
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
rm "$RUN"
start_agent
i=0
while [ "$($LVSH --json -c "list old-*" | jq -r '[.vms[] | select(.state == "running")] | length')" != 2 ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "old-* not re-attached: $($LVSH -c 'list')"; sleep 0.1
done
[ -d "$RUN/shells" ] && [ "$(stat -c %a "$RUN")" = 700 ] || fail "no run directory of mode 0700: $(ls -ld "$RUN")"
$LVSH -c "spawn 1 noop name=new --wait" >/dev/null || fail "spawn new"
p=$($LVSH --json -c "inspect new-1" | jq -r '.vms[0].pid')
[ -S "$RUN/shells/$p.sock" ] || fail "new-1's shell does not listen in $RUN/shells"
$LVSH -c "destroy old-1" >/dev/null || fail "destroy old-1"
ok "the next agent re-attached the shells in STATE/shells; new ones listen in its run directory"

# a run directory others may write: refused as well
stop_agent
$LVSH -c host >/dev/null 2>&1 && fail "the agent still answers"
rm -rf "$RUN"
mkdir -m 0777 "$RUN"
chmod 0777 "$RUN"
start_agent
grep -q "run directory $RUN: owned by another user or writable by others" "$T/agent.log" ||
	fail "no warning about a run directory others may write"
$LVSH -c "spawn 1 noop --wait" >/dev/null || fail "spawn after the refused run directory"
ok "a run directory others may write: refused"
agent_alive
