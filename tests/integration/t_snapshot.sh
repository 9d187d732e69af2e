#!/bin/sh
# t_snapshot.sh - save, restore and clone (issue 14) with real VMs, on a
# private bridge inside a network namespace this test creates:
#  - noop: save --keep (runs on), restore, clone 3, save (ends "saved");
#  - daytime: save --keep answers on; save ends it "saved" and frees its
#    address; restore answers TCP 13 again on that same address;
#  - clone daytime N (100): all N answer TCP 13 on distinct addresses,
#    each knows its own address (the guest learnt it was cloned);
#  - hostile snapshot files: truncated, a flipped byte in metadata or
#    memory, another format version, data outside the page list, a FIFO,
#    a directory, /dev/zero, a relative path: each refused with a clear
#    error and nothing started; save never writes over a file or through
#    a symlink; a read-only client may not save or restore.
. tests/integration/lib.sh
need_kvm
N=${N:-$([ "$TS" -gt 1 ] && echo 20 || echo 100)}   # fewer clones under emulation
command -v jq >/dev/null || skip "no jq"
need_netns lvsnap
ns_agent --stop-vms
S=$T/snaps
mkdir -p "$S"
nvms() { $LVSH --json -c list | jq '.vms | length'; }
info() { $LVSH --json -c "inspect $1" | jq -r ".vms[0].$2"; }
daytime() { $IN "$B/tests/lv-daytime" -d $((3 * TS)) -t $((20 * TS)) "$@"; }

# ---- noop
$LVSH -c "spawn 1 noop --wait" >/dev/null || fail "spawn noop"
$LVSH -c "save noop-1 $S/noop.lvsnap --keep" >"$T/out" || fail "save --keep: $(cat "$T/out")"
grep -q "saved noop-1: running" "$T/out" || fail "save --keep: $(cat "$T/out")"
[ "$(info noop-1 state)" = running ] || fail "noop-1 does not run on after save --keep"
[ "$($LVSH --json -c "save noop-1 $S/noop2.lvsnap --keep" | jq '.vms[0].save_ns > 0')" = true ] ||
	fail "save --json has no save_ns"
# followed without count=: pool events (no VM) pass a VM selector and
# would take places (a pool refill landed among them in the KVM testbed)
$LVSH -c "events noop-r" >"$T/ev" 2>&1 &
EV=$!
tsleep 0.3
$LVSH -c "restore $S/noop.lvsnap name=noop-r" >/dev/null || fail "restore noop"
i=0
until awk '$4 == "noop-r" && $3 == "ready"' "$T/ev" | grep -q .; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && { kill $EV; fail "no ready event for noop-r: $(cat "$T/ev")"; }
	sleep 0.05
done
kill $EV; wait $EV 2>/dev/null || true
grep -q "restoring" "$T/ev" || fail "no restoring event: $(cat "$T/ev")"
# issue 14's Deliver 7: the restore's events in order, its phases (request ->
# mapped -> ready), the save's (request -> held -> written -> resumed)
[ "$(awk '$4 == "noop-r" {print $3}' "$T/ev" | tr '\n' ' ')" = "spawned restoring started ready " ] ||
	fail "restore events: $(cat "$T/ev")"
$LVSH --json -c "inspect noop-r" >"$T/j"
jq -e '[.vms[0].phases[] | .name] | index("mapped") != null and index("loaded") == null' "$T/j" >/dev/null ||
	fail "a restore's phases have no mapped: $(cat "$T/j")"
jq -e '[.vms[0].phases[] | select(.name == "request" or .name == "mapped" or .name == "ready") | .t_ns] | length == 3 and . == sort' "$T/j" >/dev/null ||
	fail "restore phases missing or out of order: $(cat "$T/j")"
$LVSH --json -c "inspect noop-1" >"$T/j"
[ "$(jq -r '[.vms[0].phases[] | select(.name | startswith("save-")) | .name] | join(" ")' "$T/j")" = "save-request save-held save-written save-resumed" ] ||
	fail "save phases: $(cat "$T/j")"
jq -e '[.vms[0].phases[] | select(.name | startswith("save-")) | .t_ns] | . == sort' "$T/j" >/dev/null ||
	fail "save phases out of order: $(cat "$T/j")"
$LVSH -c "inspect noop-1" | grep -q "save-written" || fail "inspect shows no save phases"
$LVSH --json -c "top count=1 filter=state:restoring" >"$T/j" || fail "top filter=state:restoring"
head -n 1 "$T/j" | jq -e '.host.by_state | has("restoring") and has("migrating")' >/dev/null ||
	fail "top --json counts no restoring/migrating: $(head -c 300 "$T/j")"
[ "$(info noop-r state)" = running ] || fail "restored noop is not running"
[ "$(info noop-r restored)" = true ] || fail "restored noop is not marked restored"
$LVSH -c "clone noop-1 3" >"$T/out" || fail "clone noop-1 3: $(cat "$T/out")"
[ "$(count_state running 'noop-*')" -eq 5 ] || fail "clones of noop are not running: $($LVSH -c list)"
ls "$STATE/snapshots" 2>/dev/null | grep -q . && fail "a clone's snapshot file was left behind"
$LVSH -c "save noop-1 $S/noop3.lvsnap" >/dev/null || fail "save noop-1"
[ "$(info noop-1 state)" = saved ] || fail "noop-1 is not saved after save: $(info noop-1 state)"
$LVSH --json -c "inspect noop-1" | jq -e '[.vms[0].phases[] | .name] | index("save-ended") != null' >/dev/null ||
	fail "a saved VM's phases do not end in save-ended"
$LVSH -c host | grep -q "saved 1" || fail "lvsh host does not count the saved VM: $($LVSH -c host | grep vms)"
$LVSH -c "shutdown noop-r" >/dev/null
ok "noop: save --keep, restore, clone 3, save (saved)"

# ---- daytime: save --keep, save, restore on its address
$LVSH -c "spawn 1 daytime --wait" >/dev/null || fail "spawn daytime"
ip1=$(info daytime-1 ipv4)
daytime "$ip1" || fail "daytime-1 does not answer"
$LVSH -c "save daytime-1 $S/day-keep.lvsnap --keep" >/dev/null || fail "save --keep daytime"
daytime "$ip1" || fail "daytime-1 does not answer after save --keep"
$LVSH -c "save daytime-1 $S/day.lvsnap" >/dev/null || fail "save daytime"
[ "$(info daytime-1 state)" = saved ] || fail "daytime-1 not saved"
$LVSH -c "destroy daytime-1" >/dev/null
$LVSH -c "restore $S/day.lvsnap" >"$T/out" || fail "restore daytime: $(cat "$T/out")"
[ "$(info daytime-1 ipv4)" = "$ip1" ] || fail "restored daytime-1 has $(info daytime-1 ipv4), not $ip1"
daytime "$ip1" || fail "restored daytime-1 does not answer on $ip1"
pid=$(info daytime-1 pid)
$LVSH -c "reboot daytime-1" >/dev/null || fail "reboot of a restored VM"
tsleep 1
[ "$(info daytime-1 state)" = running ] || fail "a restored VM does not run after a reboot: $(info daytime-1 state) $(info daytime-1 reason)"
[ "$(info daytime-1 pid)" = "$pid" ] || fail "a restored VM got a new shell at its reboot"
daytime "$ip1" || fail "restored daytime-1 does not answer after a reboot"
ok "daytime: save --keep answers on, save+restore answers again on $ip1, and after a reboot (back to the snapshot)"

# ---- clone N: distinct addresses, all answer
t0=$(date +%s%N)
$LVSH -c "clone daytime-1 $N name=dc" >"$T/out" || fail "clone daytime-1 $N: $(cat "$T/out")"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(count_state running 'dc-*')" -eq "$N" ] || fail "not all $N clones run"
$LVSH --json -c "list dc-*" | jq -r '.vms[].ipv4' >"$T/ips"
[ "$(sort -u "$T/ips" | grep -c '^10\.77\.')" -eq "$N" ] || fail "clone addresses are not distinct"
grep -qx "$ip1" "$T/ips" && fail "a clone took daytime-1's address"
echo "$ip1" >>"$T/ips"
daytime <"$T/ips" || fail "TCP daytime from the clones"
$IN ping -c 1 -W 2 -q "$(sed -n 7p "$T/ips")" >/dev/null || fail "a clone does not answer ping on its own address"
ok "clone daytime-1 $N: ${ms} ms (a test, not a performance number), $N distinct addresses, all answer TCP 13"
$LVSH -c "destroy dc-*" >/dev/null

# ---- hostile files: refused, nothing started
n0=$(nvms)
refuse() {  # refuse FILE WORD: restore fails with WORD in the message
	$LVSH -c "restore $1" >"$T/out" 2>&1 && fail "restore $1 was accepted"
	grep -q -- "$2" "$T/out" || fail "restore $1: expected '$2' in: $(cat "$T/out")"
	[ "$(nvms)" -eq "$n0" ] || fail "restore $1 started something"
}
moff=$(od -An -tu8 -j 56 -N 8 "$S/day.lvsnap" | tr -d ' ')   # mem_off
cp "$S/day.lvsnap" "$S/trunc"; truncate -s -4096 "$S/trunc"; refuse "$S/trunc" truncated
cp --sparse=always "$S/day.lvsnap" "$S/grown"; truncate -s +1 "$S/grown"; refuse "$S/grown" grown
cp --sparse=always "$S/day.lvsnap" "$S/meta"; printf 'X' | dd of="$S/meta" bs=1 seek=200 conv=notrunc 2>/dev/null
refuse "$S/meta" "checksum"
cp --sparse=always "$S/day.lvsnap" "$S/ver"; printf '\002' | dd of="$S/ver" bs=1 seek=8 conv=notrunc 2>/dev/null
refuse "$S/ver" "version 2"
cp --sparse=always "$S/day.lvsnap" "$S/mem"
pg=$(od -An -tu4 -j 8192 -N 4 "$S/day.lvsnap" | tr -d ' ')   # the first listed page
printf 'X' | dd of="$S/mem" bs=1 seek=$((moff + pg * 4096 + 17)) conv=notrunc 2>/dev/null
refuse "$S/mem" "memory checksum"
cp --sparse=always "$S/day.lvsnap" "$S/extra"
printf 'X' | dd of="$S/extra" bs=1 seek=$((moff + 1000 * 4096 + 5)) conv=notrunc 2>/dev/null
refuse "$S/extra" "not listed"
mkfifo "$S/fifo"; refuse "$S/fifo" "not a regular file"
refuse "$S" "not a regular file"
refuse /dev/zero "not a regular file"
head -c 5000 /dev/urandom >"$S/junk"; refuse "$S/junk" "not a LightVM snapshot"
: >"$S/empty"; refuse "$S/empty" "too short"
$LVSH -c "restore $S/nonexistent" >/dev/null 2>&1 && fail "restore of a missing file"
kill -0 "$AGENT_PID" || fail "the agent died"
ok "hostile snapshot files refused, nothing started"

# ---- save: never over a file, never through a symlink, admins only
$LVSH -c "save daytime-1 $S/junk --keep" >"$T/out" 2>&1 && fail "save over an existing file"
grep -q "exists" "$T/out" || fail "save over a file: $(cat "$T/out")"
ln -s /etc/lightvm-should-not-exist "$S/link"
$LVSH -c "save daytime-1 $S/link --keep" >/dev/null 2>&1 && fail "save through a symlink"
[ -e /etc/lightvm-should-not-exist ] && fail "save wrote through a symlink"
$LVSH -c "save daytime-1 /nonexistent-dir/x --keep" >/dev/null 2>&1 && fail "save into a missing directory"
$LVSH -c "save 'daytime-*' $S/junk" >/dev/null 2>&1 && fail "a pattern saved into a file"
[ "$(info daytime-1 state)" = running ] || fail "daytime-1 stopped after refused saves"
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	chmod 0666 "$SOCK"
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$B/lvsh" -S "$SOCK" --no-autostart \
		-c "save daytime-1 /tmp/x --keep" >"$T/out" 2>&1 && fail "nobody saved a VM"
	chmod 0600 "$SOCK"
fi
mkdir "$S/dir"
$LVSH -c "save 'daytime-*' $S/dir --keep" >/dev/null || fail "save a pattern into a directory"
[ -f "$S/dir/daytime-1.lvsnap" ] || fail "no DIR/NAME.lvsnap"
ok "save: no overwrite, no symlink, no pattern into a file, pattern into a directory"
kill -0 "$AGENT_PID" || fail "the agent died"
