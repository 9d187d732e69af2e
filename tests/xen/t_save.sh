# Save and restore on Xen (issue 14): LightVM's own PV domains saved
# through libxenguest (xc_domain_save after the guest suspends itself on
# LV_REQ_SUSPEND) into LightVM's snapshot file, restored into a new
# domain (xc_domain_restore) with console, device page and NIC backend
# re-attached.  A daytime VM: save --keep runs on and answers; save ends
# it "saved"; restore answers TCP 13 again on the same address (and
# again after a second save/restore round); hostile files (truncated,
# a flipped byte in the header or in the stream, a KVM-platform file,
# not a snapshot) are refused with a clear error, nothing starts and the
# agent serves on.  Times printed are emulated (QEMU TCG).
. tests/xen/lib.sh
need_dom0
[ -c /dev/net/tun ] || skip "no /dev/net/tun in Dom0 (tun module?)"
[ -c /dev/xen/gntdev ] || skip "no /dev/xen/gntdev in Dom0 (xen-gntdev module?)"
start_agent "pool 4M/1 = 2"
S=$T/snaps
mkdir -p "$S"
info() { $LVSH --json -c "inspect $1" | jq -r ".vms[0].$2"; }
nvms() { $LVSH --json -c list | jq '.vms | length'; }
day() { lv-daytime -d 5 -t 30 "$@"; }

$LVSH -c "spawn 1 daytime --wait" >"$T/out" || fail "spawn daytime: $(cat "$T/out")"
wait_state running daytime-1 1 || fail "daytime-1 not running: $($LVSH -c 'inspect daytime-1')"
ip=$(info daytime-1 ipv4)
day "$ip" >"$T/d" 2>&1 || fail "daytime-1 does not answer: $(cat "$T/d")"
ok "daytime-1 answers on $ip"

# --keep: a copy, the guest runs on in its domain
dom=$(info daytime-1 pid)
$LVSH -c "save daytime-1 $S/keep.lvsnap --keep" >"$T/out" 2>&1 || fail "save --keep: $(cat "$T/out")"
[ "$(info daytime-1 state)" = running ] || fail "daytime-1 does not run on after save --keep: $(cat "$T/out")"
[ "$(info daytime-1 pid)" = "$dom" ] || fail "save --keep moved the VM to another domain"
day "$ip" >"$T/d" 2>&1 || fail "daytime-1 does not answer after save --keep: $(cat "$T/d")"
ok "save --keep: $(cat "$T/out" | head -n1); runs on in domain $dom and answers"

# save: the VM ends saved, its domain goes
$LVSH -c "save daytime-1 $S/day.lvsnap" >"$T/out" 2>&1 || fail "save: $(cat "$T/out")"
wait_state saved daytime-1 1 50 || fail "daytime-1 not saved: $($LVSH -c 'inspect daytime-1')"
i=0
while xl list | awk '{print $2}' | grep -qx "$dom"; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "domain $dom left after the save: $(xl list)"; sleep 0.1
done
# sparse: the guest gave its unused frames back before suspending
# (guest/xen/xrt.c, balloon_unused), so the stream holds only the pages
# it uses, far less than its 4 MiB
size=$(stat -c %s "$S/day.lvsnap")
[ "$size" -lt $((1024 * 1024)) ] || fail "the snapshot is $size bytes for a 4 MiB guest: not sparse"
ksize=$(stat -c %s "$S/keep.lvsnap")
[ "$ksize" -lt $((1024 * 1024)) ] || fail "the save --keep copy is $ksize bytes for a 4 MiB guest: not sparse"
ok "save: daytime-1 saved ($size bytes, sparse; --keep's copy $ksize), domain $dom gone"
$LVSH -c "destroy daytime-1" >/dev/null || fail "destroy the saved record"

# restore: a new domain, the same address, answers again
$LVSH -c "restore $S/day.lvsnap" >"$T/out" 2>&1 || fail "restore: $(cat "$T/out"; tail -n 20 "$T/agent.log")"
wait_state running daytime-1 1 300 || fail "restored daytime-1 not running: $($LVSH -c 'inspect daytime-1'; tail -n 20 "$T/agent.log")"
[ "$(info daytime-1 ipv4)" = "$ip" ] || fail "restored on another address: $(info daytime-1 ipv4)"
[ "$(info daytime-1 restored)" = true ] || fail "not marked restored"
day "$ip" >"$T/d" 2>&1 || fail "restored daytime-1 does not answer: $(cat "$T/d"; tail -n 20 "$T/agent.log")"
ok "restore: daytime-1 in domain $(info daytime-1 pid), answers on $ip: $(head -n1 "$T/d")"

# a second round: the restored guest saves again (its p2m frame lists
# were rebuilt in the new domain) and restores under a new name
$LVSH -c "save daytime-1 $S/day2.lvsnap" >"$T/out" 2>&1 || fail "second save: $(cat "$T/out")"
wait_state saved daytime-1 1 50 || fail "daytime-1 not saved again"
$LVSH -c "destroy daytime-1" >/dev/null
$LVSH -c "restore $S/day2.lvsnap name=again" >"$T/out" 2>&1 || fail "second restore: $(cat "$T/out")"
wait_state running again 1 300 || fail "again not running: $($LVSH -c 'inspect again')"
day "$ip" >"$T/d" 2>&1 || fail "again does not answer: $(cat "$T/d")"
ok "second round: saved the restored guest, restored as 'again', answers on $ip"
# a restored VM after kill -9 of the agent: re-attached from its domain
# file; then a reboot boots its image afresh (by name) in a new domain
kill_restart_agent "pool 4M/1 = 2"
[ "$(info again state)" = running ] || fail "again not running after the agent's restart: $($LVSH -c 'inspect again')"
day "$ip" >"$T/d" 2>&1 || fail "again does not answer after the agent's restart: $(cat "$T/d")"
old=$(info again pid)
$LVSH -c "reboot again" >/dev/null || fail "reboot again"
i=0
while [ "$(info again pid)" = "$old" ]; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "again not rebuilt: $($LVSH -c 'inspect again')"; sleep 0.1
done
day "$ip" >"$T/d" 2>&1 || fail "again does not answer after its reboot: $(cat "$T/d")"
ok "restored VM: re-attached after kill -9 of the agent, rebooted (domain $old -> $(info again pid)), answers"
grep -E 'saved domain|restored into' "$T/agent.log" | sed 's/^/    agent: /' | tail -n 4
echo "    (times above are emulated: QEMU TCG, not performance numbers)"

# clones: save --keep + restores of that file, at once (each restore
# reads the file through its own open file description); every clone
# answers on an address of its own (no memory shared on Xen)
$LVSH -c "clone again 3 name=cl" >"$T/out" 2>&1 || fail "clone again 3 name=cl: $(cat "$T/out"; tail -n 20 "$T/agent.log")"
wait_state running 'cl-*' 3 300 || fail "clones not running: $($LVSH -c list)"
$LVSH --json -c "list cl-*" | jq -r '.vms[].ipv4' >"$T/cips"
[ "$(sort -u "$T/cips" | grep -c '^10\.')" = 3 ] || fail "clones without distinct addresses: $(cat "$T/cips")"
lv-daytime -d 5 -t 30 <"$T/cips" >"$T/d" 2>&1 || fail "clones do not answer: $(cat "$T/d")"
ok "clone again 3: $(tr '\n' ' ' <"$T/cips")answer: $(head -n1 "$T/d")"
$LVSH -c "destroy cl-*" >/dev/null || fail "destroy the clones"

# hostile files: a clear error each, nothing started, the agent serves on
n0=$(nvms)
refused() {   # refused FILE WORDS-EXPECTED WHAT
	if $LVSH -c "restore $1" >"$T/out" 2>&1; then fail "$3: restored: $(cat "$T/out")"; fi
	grep -q "$2" "$T/out" || fail "$3: unclear error: $(cat "$T/out")"
	[ "$(nvms)" = "$n0" ] || fail "$3: a VM was started: $($LVSH -c list)"
	kill -0 "$AGENT_PID" || fail "$3: the agent died"
	ok "$3 refused: $(head -n1 "$T/out" | cut -c1-110)"
}
size=$(stat -c %s "$S/day2.lvsnap")
head -c $((size / 2)) "$S/day2.lvsnap" >"$S/trunc.lvsnap"
refused "$S/trunc.lvsnap" "truncated" "a truncated file"
head -c 3000 "$S/day2.lvsnap" >"$S/trunc2.lvsnap"
refused "$S/trunc2.lvsnap" "truncated\|too short" "a file cut inside its header"
cp "$S/day2.lvsnap" "$S/stream.lvsnap"
printf '\377' | dd of="$S/stream.lvsnap" bs=1 seek=$((size - 5000)) conv=notrunc 2>/dev/null
refused "$S/stream.lvsnap" "checksum" "a flipped byte in the stream"
cp "$S/day2.lvsnap" "$S/hdr.lvsnap"
printf 'X' | dd of="$S/hdr.lvsnap" bs=1 seek=400 conv=notrunc 2>/dev/null
refused "$S/hdr.lvsnap" "checksum\|not valid" "a flipped byte in the header"
cp "$S/day2.lvsnap" "$S/kvm.lvsnap"
printf '\001' | dd of="$S/kvm.lvsnap" bs=1 seek=16 conv=notrunc 2>/dev/null   # platform: kvm-x86_64
refused "$S/kvm.lvsnap" "platform kvm" "a KVM snapshot"
refused "$B/images-xen/daytime" "not a LightVM snapshot" "an image instead of a snapshot"
day "$ip" >/dev/null 2>&1 || fail "again stopped answering after the hostile files"
ok "again still answers"
$LVSH -c "destroy all" >/dev/null || fail "destroy all"

# the same image under xl: the guest gives xl its suspend channel
# (device/suspend/event-channel) and answers xl save; xl restore runs
# it again, and it saves again from its new domain
printf 'kernel = "%s"\nmemory = 4\nvcpus = 1\nname = "xl-noop"\n' "$B/images-xen/noop" >"$T/noop.cfg"
xl create -q "$T/noop.cfg" || fail "xl create noop"
sleep 1
[ -n "$(xenstore-read "/local/domain/$(xl domid xl-noop)/device/suspend/event-channel" 2>/dev/null)" ] ||
	fail "the guest wrote no suspend channel for xl"
for round in 1 2; do
	xl save xl-noop "$S/xl.save" >"$T/xl" 2>&1 || fail "xl save (round $round): $(tail -n 3 "$T/xl")"
	! xl domid xl-noop >/dev/null 2>&1 || fail "xl save left the domain"
	xl restore "$S/xl.save" >"$T/xl" 2>&1 || fail "xl restore (round $round): $(tail -n 3 "$T/xl")"
	sleep 0.5
	xl list xl-noop | grep -q 'xl-noop.*-b---' || fail "xl-noop not running after xl restore: $(xl list)"
	rm -f "$S/xl.save"
done
xl destroy xl-noop
ok "xl save + xl restore of the same noop image, twice"

# a guest that never idles never sees the suspend request: the save
# fails after its 10 s, the guest runs on
$LVSH -c "spawn 1 spin" >/dev/null || fail "spawn spin"
wait_state running spin-1 1 100 || fail "spin-1 not running"
if $LVSH -c "save spin-1 $S/spin.lvsnap" >"$T/out" 2>&1; then fail "a spinning guest was saved: $(cat "$T/out")"; fi
grep -q "did not suspend" "$T/out" || fail "unclear error for a guest that does not suspend: $(cat "$T/out")"
[ "$(info spin-1 state)" = running ] || fail "spin-1 not running after the failed save"
ok "a guest that does not suspend: $(head -n1 "$T/out" | cut -c1-100); it runs on"
# a VM destroyed while its save waits for it (a spinning guest: 10 s):
# the job ends for nobody
$LVSH -c "save spin-1 $S/gone.lvsnap" >"$T/out" 2>&1 &
sv=$!
sleep 2
$LVSH -c "destroy spin-1" >/dev/null 2>&1 || fail "destroy spin-1 during its save"
wait $sv
sleep 10   # the job's thread gives up on the gone domain
kill -0 "$AGENT_PID" || fail "the agent died when a VM went during its save"
destroy_all_empty   # no domain and no domain file of ours left
ok "a VM destroyed during its save: the agent serves on ($(head -n1 "$T/out" | cut -c1-80))"
stop_agent
! grep -E "AddressSanitizer|runtime error|LeakSanitizer" "$T/agent.log" || fail "sanitizer report in the agent's log"
