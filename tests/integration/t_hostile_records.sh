# State records that lie, tear or cannot be written.  A record with a
# second `console` line naming a root-only file (what an unescaped EXIT
# reason used to inject) is set aside: `log` never returns that file and
# destroy never touches it; the VM's live shell says who it is and the VM
# is adopted, as is the VM of a torn record.  With the state directory on
# a full tmpfs, spawn fails with ENOSPC instead of answering OK with an
# empty record, and a restart loses none of the VMs it did answer for.
. tests/integration/lib.sh
need_kvm
restart() {
	kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
	rm -f "$SOCK"
	start_agent
}
state_of() { $LVSH --json -c "list $1" | jq -r '.vms[0].state // "none"'; }
wait_state() {  # VM STATE
	i=0
	while [ "$(state_of "$1")" != "$2" ]; do
		i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "$1: $(state_of "$1"), not $2"; sleep 0.1
	done
}

start_agent
$LVSH -c "spawn 1 noop name=inj; spawn 1 noop name=torn" >/dev/null || fail "spawn"
wait_state inj-1 running
wait_state torn-1 running
echo "root only secret" >"$T/secret"
chmod 600 "$T/secret"

kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
rm -f "$SOCK"
# the injection, as an older agent wrote it: a console line after the real one
sed -i "s|^reason .*|reason x\nconsole $T/secret\nstate booting|" "$STATE/vms/inj-1.vm"
head -c 100 "$STATE/vms/torn-1.vm" >"$T/torn" && cp "$T/torn" "$STATE/vms/torn-1.vm"
start_agent
[ -f "$STATE/vms/inj-1.vm.bad" ] || fail "the injected record was not set aside"
grep -q "inj-1.vm: a key appears twice" "$T/agent.log" || fail "no warning for the injected record"
wait_state inj-1 running
wait_state torn-1 running
grep -q "inj-1: shell .* has no record but runs a guest: adopted" "$T/agent.log" || fail "inj-1 not adopted"
$LVSH -c "log inj-1" 2>&1 | grep -q "root only secret" && fail "log returned the injected file"
$LVSH --json -c "inspect inj-1" | jq -r '.vms[0].console_path // empty' | grep -q secret && fail "console path from the record"
ok "an injected console line: record set aside, live VM adopted, the file never read"

# the adopted VMs have records again and survive another restart
i=0
while ! grep -q '^end$' "$STATE/vms/torn-1.vm" 2>/dev/null; do
	i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "torn-1: no new record"; sleep 0.1
done
restart
wait_state torn-1 running
wait_state inj-1 running
$LVSH -c "destroy all" >/dev/null || fail "destroy all"
[ "$(cat "$T/secret")" = "root only secret" ] || fail "destroy touched the injected file"
ok "a torn record: the VM is adopted, recorded again and kept across a restart"
stop_agent

# ---- a full state disk
mkdir -p "$T/small"
mount -t tmpfs -o size=3m tmpfs "$T/small" || skip "cannot mount a tmpfs"
trap 'umount -l "$T/small" 2>/dev/null; cleanup' EXIT
STATE=$T/small/state
start_agent
$LVSH -c "spawn 2 noop name=before" >/dev/null || fail "spawn before the disk is full"
dd if=/dev/zero of="$T/small/fill" bs=64k >/dev/null 2>&1
out=$($LVSH -c "spawn 200 noop name=full" 2>&1) && fail "spawn on a full disk answered OK: $out"
echo "$out" | grep -q "No space left on device" || fail "spawn on a full disk: $out"
for f in "$STATE"/vms/*.vm; do
	grep -q '^end$' "$f" || fail "$(basename "$f"): an incomplete record on a full disk"
done
$LVSH --json -c list | jq -r '.vms[].name' | sort >"$T/before"
restart
$LVSH --json -c list | jq -r '.vms[].name' | sort >"$T/after"
cmp -s "$T/before" "$T/after" || fail "a restart on a full disk lost VMs: $(diff "$T/before" "$T/after")"
agent_alive
$LVSH -c "destroy all" >/dev/null
stop_agent
ok "full state disk: spawn fails with ENOSPC, every answered VM has its record and survives a restart"
