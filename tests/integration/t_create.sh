#!/bin/sh
# t_create.sh - VMs from config files (lvsh create, lightvm.cfg(5)): an
# xl config with keys lightvm does not support gets one error per key,
# naming file, line and key, and starts nothing; a syntax error names line
# and column; a directory with one bad file starts nothing; on_poweroff
# and on_crash = destroy destroy the VM, preserve keeps it; a config of
# our own with a vif starts 20 daytime VMs that answer TCP daytime (in a
# network namespace of this test, as t_daytime); a bridge or mode the
# agent does not have is refused; the agent's autostart = DIR creates the
# VMs of a directory at start and logs a bad file without stopping.
. tests/integration/lib.sh
need_kvm
need_netns lvcreate
nvms() { $LVSH --json -c list | jq '.vms | length'; }
ns_agent --stop-vms

# an xl config: what applies is taken, every other key is named
cat >"$T/web.cfg" <<'EOF'
# written for xl
name = "web"
kernel = "daytime"
memory = 8
vcpus = 1
disk = [ 'phy:/dev/vg/web,xvda,w' ]
vif = [ 'mac=00:16:3e:01:02:03,bridge=xenbr0' ]
on_crash = 'restart'
cpus = "0-1"
EOF
$LVSH -c "create $T/web.cfg" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 2 ] || fail "create of an xl config with unsupported keys: exit $rc, not 2"
for want in "web.cfg:6: key 'disk': not supported" "web.cfg:7: key 'vif': mac= is not supported" \
	    "web.cfg:8: key 'on_crash': 'restart' is not supported" "web.cfg:9: key 'cpus': not supported" \
	    "nothing started"; do
	grep -qF "$want" "$T/err" || fail "no error '$want' in: $(cat "$T/err")"
done
[ "$(grep -c "web.cfg:" "$T/err")" -eq 4 ] || fail "not exactly 4 errors: $(cat "$T/err")"
[ "$(nvms)" -eq 0 ] || fail "VMs started from a config with errors"
ok "xl config: disk, vif mac=, on_crash, cpus named by file:line, nothing started"

printf 'image = "daytime"\nmemory 8\n' >"$T/syntax.cfg"
$LVSH -c "create $T/syntax.cfg" 2>"$T/err" && fail "a syntax error was accepted"
grep -qF "syntax.cfg:2:8: syntax error: expected '=' after 'memory'" "$T/err" ||
	fail "syntax error without line and column: $(cat "$T/err")"
ok "syntax error: line and column"

# a directory: one bad file starts nothing at all
mkdir "$T/dir"
printf 'image = "daytime"\nname = "good"\n' >"$T/dir/a.cfg"
printf 'image = "daytime"\nusb = 1\n' >"$T/dir/b.cfg"
echo "not a config" >"$T/dir/README"
$LVSH -c "create $T/dir" 2>"$T/err" && fail "a directory with a bad file was accepted"
grep -qF "b.cfg:2: key 'usb'" "$T/err" || fail "no error for b.cfg: $(cat "$T/err")"
[ "$(nvms)" -eq 0 ] || fail "VMs started from a directory with a bad file"
ok "directory with a bad file: nothing started"

# what this agent does not have: refused by the agent, nothing started
printf 'image = "daytime"\nvif = [ "bridge=xenbr0" ]\n' >"$T/br.cfg"
$LVSH -c "create $T/br.cfg" 2>"$T/err" && fail "a foreign bridge was accepted"
grep -q "bridge xenbr0: this agent's bridge is lvbr0" "$T/err" || fail "bridge: $(cat "$T/err")"
printf 'image = "daytime"\nmode = "xenstore"\n' >"$T/mode.cfg"
$LVSH -c "create $T/mode.cfg" 2>"$T/err" && fail "mode xenstore was accepted on KVM"
grep -q "mode xenstore: this agent's VMs run in noxs mode" "$T/err" || fail "mode: $(cat "$T/err")"
[ "$(nvms)" -eq 0 ] || fail "VMs started with a foreign bridge or mode"
ok "foreign bridge, foreign mode: refused by the agent"

# a config of our own with a vif: 20 VMs that answer
cat >"$T/dt.cfg" <<'EOF'
# daytime servers on the agent's bridge
name = "dt"
image = "daytime"
memory = 8
vcpus = 1
vif = [ 'bridge=lvbr0' ]
on_poweroff = "preserve"
on_reboot = "restart"
on_crash = "preserve"
mode = "noxs"
EOF
$LVSH -c "create $T/dt.cfg 20" >"$T/out" || fail "create dt.cfg 20: $(cat "$T/out")"
grep -q "spawned 20 VMs (dt-1 .. dt-20)" "$T/out" || fail "create output: $(cat "$T/out")"
[ "$(count_state running 'dt-*')" -eq 20 ] || fail "not all 20 run"
[ "$($LVSH --json -c 'inspect dt-7' | jq '.vms[0].mem_bytes')" -eq 8388608 ] || fail "memory = 8 not applied"
$LVSH --json -c "list dt-*" | jq -r '.vms[].ipv4' >"$T/ips"
[ "$(sort -u "$T/ips" | grep -c '^10\.77\.')" -eq 20 ] || fail "addresses missing or not unique"
$IN "$B/tests/lv-daytime" -d $((3 * TS)) -t $((30 * TS)) <"$T/ips" || fail "TCP daytime"
ok "create dt.cfg 20: 20 daytime VMs answer TCP daytime"

# one VM: the file's name is the VM's name
printf 'name = "solo"\nimage = "daytime"\n' >"$T/solo.cfg"
$LVSH -c "create $T/solo.cfg" >"$T/out" || fail "create solo.cfg"
grep -q "spawned 1 VM (solo)" "$T/out" || fail "solo: $(cat "$T/out")"
$LVSH -c "create $T/solo.cfg" 2>"$T/err" && fail "a second VM named solo"
grep -q "exists" "$T/err" || fail "solo twice: $(cat "$T/err")"
ok "create with a name: one VM of that name, and only one"

# on_poweroff / on_crash: destroy, or preserve (the default)
printf 'name = "bye"\nimage = "hello"\non_poweroff = "destroy"\n' >"$T/bye.cfg"
printf 'name = "boom"\nimage = "crash"\non_crash = "destroy"\n' >"$T/boom.cfg"
printf 'name = "keep"\nimage = "hello"\non_poweroff = "preserve"\n' >"$T/keep.cfg"
$LVSH -c "create $T/bye.cfg 3" >/dev/null || fail "create bye.cfg 3"
$LVSH -c "create $T/boom.cfg 2" >/dev/null 2>&1
$LVSH -c "create $T/keep.cfg" >/dev/null || fail "create keep.cfg"
i=0
while [ "$($LVSH --json -c 'list bye-*' | jq '.vms | length')" -ne 0 ] ||
      [ "$($LVSH --json -c 'list boom-*' | jq '.vms | length')" -ne 0 ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "on_poweroff/on_crash = destroy: still listed: $($LVSH -c list)"; sleep 0.1
done
tsleep 0.3
[ "$(count_state shutoff keep)" -eq 1 ] || fail "on_poweroff = preserve: keep is not listed shut off"
grep -q "bye-2: shutoff: destroyed, as its config asks" "$T/agent.log" || fail "no log of bye-2's destroy"
ok "on_poweroff = destroy, on_crash = destroy: gone; preserve: kept"
$LVSH -c "destroy all" >/dev/null || fail "destroy all"
stop_agent

# autostart: the VMs of a directory at the agent's start; a bad file is
# logged and the agent runs on
mkdir "$T/auto"
printf 'name = "auto-a"\nimage = "daytime"\nvif = [ "" ]\n' >"$T/auto/a.cfg"
printf 'name = "auto-b"\nimage = "noop"\n' >"$T/auto/b.cfg"
printf 'name = "auto-c"\nimage = "noop"\npci = [ "01:00.0" ]\n' >"$T/auto/c.cfg"
echo "autostart = $T/auto" >"$T/lightvmd.conf"
ns_agent --stop-vms -f "$T/lightvmd.conf"
i=0
while [ "$(count_state running auto-a)" -ne 1 ]; do
	i=$((i + 1)); [ $i -gt $((100 * TS)) ] && fail "autostart: auto-a does not run"; sleep 0.1
done
[ "$($LVSH --json -c 'inspect auto-b' | jq -r '.vms[0].name')" = auto-b ] || fail "autostart: no auto-b"
[ "$(nvms)" -eq 2 ] || fail "autostart: $(nvms) VMs, not 2"
grep -qF "c.cfg:3: key 'pci': not supported" "$T/agent.log" || fail "autostart: c.cfg's error not logged"
grep -q "autostart: $T/auto: 2 of 3 config files started" "$T/agent.log" || fail "autostart: no summary"
agent_alive
ip=$($LVSH --json -c "inspect auto-a" | jq -r '.vms[0].ipv4')
$IN "$B/tests/lv-daytime" -d $((3 * TS)) -t $((30 * TS)) "$ip" || fail "auto-a does not answer"
ok "autostart: 2 VMs from 3 files, the bad one logged by file:line, the agent runs"
