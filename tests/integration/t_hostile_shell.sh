# A hostile shell after an agent restart (tests/tools/lv-fakeshell on
# STATE/shells/PID.sock, where an older agent's shells listen: the agent
# looks there too, after its run directory): a HELLO whose name is a path must not make the
# agent remove a file (it is a protocol violation: the shell is told to
# go); a second HELLO on the same channel is refused; a shell with no
# record that says it runs a guest under a free name is adopted, not
# destroyed.  Needs /dev/kvm (the KVM driver).
. tests/integration/lib.sh
need_kvm
FS=$B/tests/lv-fakeshell
mkdir -p "$STATE/shells" "$T/x"
echo precious >"$T/x/y.log"

"$FS" "$STATE/shells" "../../x/y" 5 running 4194304 >"$T/fs1" &
FS1=$!
"$FS" "$STATE/shells" adoptme 77 running 4194304 twice >"$T/fs2" &
FS2=$!
"$FS" "$STATE/shells" keepme 78 running 4194304 >"$T/fs3" &
FS3=$!
i=0
while [ "$(ls "$STATE/shells" | wc -l)" -lt 3 ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "fake shells did not start"; sleep 0.05
done
start_agent

# ---- a name that is a path: refused, nothing removed
i=0
while kill -0 $FS1 2>/dev/null; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "the agent never answered the hostile HELLO"; sleep 0.1
done
[ -f "$T/x/y.log" ] || fail "HELLO{name=../../x/y} removed $T/x/y.log"
grep -q "shell protocol violation: malformed HELLO" "$T/agent.log" || fail "no violation logged"
grep -q destroy "$T/fs1" || fail "the hostile shell was not told to go: $(cat "$T/fs1")"
ok "HELLO with a path for a name: refused, file kept, shell destroyed"

# ---- a live shell with no record: adopted under its name
i=0
while [ "$($LVSH --json -c 'list keepme' | jq -r '.vms[0].state // empty')" != running ]; do
	i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "keepme not adopted: $($LVSH -c list)"; sleep 0.1
done
[ "$($LVSH --json -c 'inspect keepme' | jq -r '.vms[0].id')" = 78 ] || fail "keepme: wrong id"
ok "a record-less live shell is adopted (keepme running, id 78)"

# ---- a second HELLO on the channel: a violation, that VM crashes
i=0
while [ "$($LVSH --json -c 'list adoptme' | jq -r '.vms[0].state // empty')" != crashed ]; do
	i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "adoptme: second HELLO accepted: $($LVSH -c 'inspect adoptme')"; sleep 0.1
done
$LVSH --json -c 'inspect adoptme' | jq -r '.vms[0].reason' | grep -q "HELLO outside a re-attach" ||
	fail "adoptme: reason $($LVSH --json -c 'inspect adoptme' | jq -r '.vms[0].reason')"
ok "a second HELLO: shell protocol violation, VM crashed"
agent_alive
$LVSH -c "destroy keepme" >/dev/null || fail "destroy keepme"
wait $FS3
grep -q destroy "$T/fs3" || fail "keepme's shell was not destroyed: $(cat "$T/fs3")"
kill $FS2 2>/dev/null
ok "the adopted VM is destroyed like any other"
