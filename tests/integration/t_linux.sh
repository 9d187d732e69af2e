# Linux guests on KVM (issue 16), through the real agent and lvsh: the
# Tinyx HTTP image and Debian's stock kernel boot by their PVH entry with
# an initramfs and a command line; the console log and `lvsh console`
# (input too) reach them; pause, reboot (the agent's and the guest's own),
# power-off from the guest, destroy; and the hostile cases: a file that
# is no kernel, a truncated kernel, too little memory, a ramdisk for a
# unikernel: clear errors, the agent lives on.
# Needs standard KVM: where /dev/kvm is PVM a stock kernel's ring 0 is
# emulated instruction by instruction and the agent refuses Linux kernels
# (checked, then SKIP; see lightvm(7)); the KVM testbed runs this test
# (scripts/test).  Timings inside the testbed are emulated.
. tests/integration/lib.sh
need_kvm

TINYX=${LV_TINYX:-}
for d in "$B/tinyx/tinyx-lighttpd" "$ROOT/build/tinyx/tinyx-lighttpd"; do
	[ -z "$TINYX" ] && [ -f "$d/kernel" ] && TINYX=$d
done
[ -n "$TINYX" ] || skip "no Tinyx image (scripts/tinyx lighttpd builds it into build/tinyx; scripts/test does)"
TINYX=$(cd "$TINYX" && pwd)   # absolute: used below from other directories
DEBK=${LV_LINUX_KERNEL:-/var/cache/lightvm-testbed/kvm/vmlinuz}
[ -f "$DEBK" ] || skip "no Debian kernel at $DEBK (scripts/kvm-testbed build fetches it)"

# the catalog: an image directory (kernel, initrd[, cmdline]) as
# scripts/tinyx writes it, spawned by name
mkdir -p "$T/img"
ln -s "$TINYX" "$T/img/tinyx"
start_agent -I "$T/img"
case $($LVSH -c host) in
*kvm-pvm*)
	# the agent refuses Linux kernels here, with the reason
	$LVSH -c "spawn 1 tinyx mem=64M" >"$T/out" 2>&1 && fail "a Linux kernel spawned on PVM"
	grep -q "PVM, which emulates a stock kernel's ring 0" "$T/out" || fail "PVM refusal: $(cat "$T/out")"
	agent_alive
	ok "PVM: $(cat "$T/out")"
	skip "/dev/kvm is PVM here: the agent refuses Linux kernels (their ring 0 is emulated: a Tinyx boot wrote nothing in 600 s); the KVM testbed runs this test";;
esac

# Debian's vmlinuz is a bzImage: its ELF vmlinux (with the PVH note) is
# the xz payload, extracted once next to it
VMLINUX=${DEBK%/*}/vmlinux.pvh
if [ ! -s "$VMLINUX" ]; then
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$DEBK" | head -n1 | cut -d: -f1)
	[ -n "$off" ] || fail "no xz payload in $DEBK"
	tail -c +$((off + 1)) "$DEBK" | xz -dc >"$VMLINUX.tmp" 2>/dev/null
	[ -s "$VMLINUX.tmp" ] || fail "cannot extract vmlinux from $DEBK"
	mv "$VMLINUX.tmp" "$VMLINUX"
fi

# the stock kernel's initramfs: Tinyx's busybox and a shell on the console
mkdir -p "$T/rd" "$T/sh"
(cd "$T/rd" && gzip -dc "$TINYX/initrd" | cpio -id --quiet bin/busybox) || fail "unpack Tinyx's initrd"
mkdir -p "$T/sh/bin" "$T/sh/proc" "$T/sh/sys" "$T/sh/dev"
cp "$T/rd/bin/busybox" "$T/sh/bin/busybox"
cat >"$T/sh/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox echo "init: first words"
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t devtmpfs dev /dev 2>/dev/null
mount -t sysfs sys /sys
echo "stock-linux: shell on the console, kernel $(uname -r)"
exec setsid cttyhack sh
EOF
chmod 755 "$T/sh/init"
(cd "$T/sh" && find . | cpio -o -H newc --quiet | gzip -1) >"$T/shell.gz"

# ---- pools of Linux shells: a flavor of their own (64M/1/linux, beside a
# unikernel pool of the same memory); the Tinyx spawn claims a Linux one
pool_json() {   # FLAVOR FIELD
	$LVSH --json -c pool | jq -r --arg f "$1" ".pools[] | select(.flavor == \$f) | .$2"
}
$LVSH -c "pool set 64M/linux 1" || fail "pool set 64M/linux 1"
$LVSH -c "pool set 64M 1" || fail "pool set 64M 1"
$LVSH -c "pool set 64M/1/lnx 1" >"$T/out" 2>&1 && fail "a junk kind was taken"
grep -q "not a flavor" "$T/out" || fail "junk kind: $(cat "$T/out")"
end=$(( $(date +%s) + 30 * TS ))
until [ "$(pool_json 64M/1/linux ready)" = 1 ] && [ "$(pool_json 64M/1 ready)" = 1 ]; do
	[ "$(date +%s)" -gt $end ] && fail "the Linux pool never filled: $($LVSH -c pool)"
	sleep 0.2
done
$LVSH -c pool | grep -q "^64M/1/linux " || fail "lvsh pool does not show the Linux flavor: $($LVSH -c pool)"

# ---- Tinyx (by its catalog name): boots to its program, the console log has it
# (a Linux guest has 120 s to print its ready line; the spawn waits longer)
$LVSH -c "spawn 1 tinyx mem=64M name=tx cmdline=quiet timeout=150" ||
	fail "tinyx did not boot: $($LVSH -c 'inspect tx-1'; tail -n 20 "$STATE"/console/tx-1.log 2>/dev/null)"
$LVSH --json -c "inspect tx-1" | jq -e '.vms[0].pooled == true' >/dev/null ||
	fail "the Tinyx spawn did not come from the Linux pool: $($LVSH -c 'inspect tx-1'; $LVSH -c pool)"
[ "$(pool_json 64M/1/linux hits)" = 1 ] && [ "$(pool_json 64M/1 hits)" = 0 ] ||
	fail "pool hits (Linux 1, unikernel 0): $($LVSH -c pool)"
ok "a pooled Linux spawn: tinyx claimed a 64M/1/linux shell, the unikernel pool of 64M untouched"
# the flight recorder of a Linux boot: every phase, in order (lightvm(7))
phases_in_order() {   # VM: the names of its creation phases, checked in order
	$LVSH --json -c "inspect $1" | jq -e -r '.vms[0].phases as $p
		| ["request","claimed","loaded","devices","started","kernel","init","ready"] as $want
		| [$p[] | select(.name as $n | $want | index($n))] as $got
		| if ([$got[].name] == $want) and ([$got[].t_ns] == ([$got[].t_ns] | sort))
		  then [$got[] | "\(.name) \((.t_ns - $got[0].t_ns) / 1e6 | floor) ms"] | join(", ")
		  else error("phases: \($p)") end'
}
ph=$(phases_in_order tx-1) || fail "tinyx's flight recorder: $($LVSH -c 'inspect tx-1')"
$LVSH -c "inspect tx-1" | grep -q "^  kernel " || fail "lvsh inspect shows no kernel phase: $($LVSH -c 'inspect tx-1')"
ok "tinyx's phases (emulated): $ph"
$LVSH -c "pool set 64M 0" >/dev/null
$LVSH -c "log tx-1" | grep -q "tinyx: exec /usr/sbin/lighttpd" || fail "tinyx log: $($LVSH -c 'log tx-1')"
$LVSH --json -c "inspect tx-1" | jq -e '.vms[0].console_bytes > 0' >/dev/null ||
	fail "console bytes not counted: $($LVSH --json -c 'inspect tx-1')"
ok "tinyx: booted to lighttpd in $($LVSH --json -c 'inspect tx-1' | jq -r '.vms[0].spawn_ns / 1e6 | floor') ms (emulated in the testbed)"
# its NIC: virtio-net over MMIO on the bridge, the address from the agent
ip=$($LVSH --json -c "inspect tx-1" | jq -r '.vms[0].ipv4 // empty')
[ -n "$ip" ] || fail "tinyx has no address: $($LVSH -c 'inspect tx-1')"
end=$(( $(date +%s) + 30 * TS ))
until curl -s -m 5 "http://$ip/" >"$T/page" 2>/dev/null && grep -q "Hello from Tinyx" "$T/page"; do
	[ "$(date +%s)" -gt $end ] && fail "no HTTP answer from tinyx at $ip: $($LVSH -c 'log tx-1' | tail -n 5)"
	sleep 0.5
done
$LVSH --json -c "stats tx-1 count=1" | jq -e '.vms[0].net_rx_packets > 0 and .vms[0].net_tx_packets > 0' >/dev/null ||
	fail "NIC counters: $($LVSH --json -c 'stats tx-1 count=1')"
ok "tinyx answers HTTP over the bridge at $ip (virtio-net over MMIO)"
# idle (scripts/tinyx: NO_HZ_IDLE; KVM's debugfs counts its exits)
[ -d /sys/kernel/debug/kvm ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
txpid=$($LVSH --json -c "inspect tx-1" | jq -r '.vms[0].pid')
exits() { cat /sys/kernel/debug/kvm/"$txpid"-*/exits 2>/dev/null | awk '{ s += $1 } END { print NR ? s : "" }'; }
# and its CPU time is what its shell used (an idle Linux guest's shell
# never says idle: its whole uptime was counted as CPU, 100 %)
cpuns() { $LVSH --json -c "stats tx-1 count=1" | jq -r '.vms[0].cpu_ns'; }
# idle_pct WHEN: its CPU share by lvsh stats over 5 s, under 50 %
idle_pct() {
	sleep 2
	e0=$(exits) c0=$(cpuns) t0=$(date +%s%N)
	sleep 5
	e1=$(exits) c1=$(cpuns) t1=$(date +%s%N)
	pct=$(( (c1 - c0) * 100 / (t1 - t0) ))
	[ "$pct" -lt 50 ] || fail "idle tinyx $1: $pct % CPU by lvsh stats over 5 s"
	# (its exits, for the record: how many an emulated guest manages
	# depends on the load; Debian's kernel below checks the clocksource)
	rate=$([ -n "$e0" ] && echo "$(( (e1 - e0) * 1000000000 / (t1 - t0) )) exits/s" || echo "exits not counted: no KVM debugfs")
	ok "idle tinyx $1: $pct % CPU by lvsh stats, $rate (emulated in the testbed)"
}
idle_pct "after boot"
# a snapshot holds a unikernel's state only: saving a Linux guest is
# refused by name, leaves no file, and the guest runs on
$LVSH -c "save tx-1 $T/tx.snap" >"$T/out" 2>&1 && fail "a Linux guest was saved"
grep -q "a Linux guest cannot be saved" "$T/out" || fail "save of a Linux guest: $(cat "$T/out")"
[ ! -e "$T/tx.snap" ] || fail "the refused save left $T/tx.snap"
curl -s -m 10 "http://$ip/" | grep -q "Hello from Tinyx" || fail "no HTTP answer after the refused save"
ok "save of a Linux guest refused: $(head -n 1 "$T/out")"
$LVSH -c "pause tx-1" && $LVSH -c "wait tx-1 paused 10" || fail "pause"
$LVSH -c "unpause tx-1" && $LVSH -c "wait tx-1 running 10" || fail "unpause"
n0=$($LVSH -c "log tx-1" | grep -c "tinyx: exec")
$LVSH -c "reboot tx-1" || fail "reboot"
end=$(( $(date +%s) + 30 * TS ))
while [ "$($LVSH -c "log tx-1" | grep -c "tinyx: exec")" -le "$n0" ]; do
	[ "$(date +%s)" -gt $end ] && fail "no second boot after lvsh reboot: $($LVSH -c 'log tx-1' | tail -n 5)"
	sleep 0.2
done
ok "tinyx: pause, unpause, lvsh reboot (booted again)"
# the agent restarts (kill -9): the Linux guest's shell is re-attached
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
start_agent -I "$T/img"
$LVSH -c "wait tx-1 running 30" >/dev/null || fail "tx-1 not re-attached: $($LVSH -c list)"
curl -s -m 10 "http://$ip/" | grep -q "Hello from Tinyx" || fail "no HTTP answer after the agent's restart"
ok "tinyx: re-attached after kill -9 of the agent, still answering HTTP"
# the new agent never saw the spawn: the shell's stats page says the
# guest halts inside KVM_RUN, so its CPU is still the kernel's count
idle_pct "re-attached"
$LVSH -c "destroy tx-1" || fail "destroy"

# ---- Debian's kernel: lvsh console reaches its shell
$LVSH -c "spawn 1 $VMLINUX mem=160M name=deb ramdisk=$T/shell.gz cmdline='quiet lv.ready=stock-linux:' timeout=150" ||
	fail "Debian's kernel did not boot: $($LVSH -c 'inspect deb-1'; tail -n 30 "$STATE"/console/deb-1.log 2>/dev/null)"
console_says() {   # TEXT-TO-TYPE EXPECTED
	end=$(( $(date +%s) + 30 * TS ))
	printf '%s\r' "$1" | timeout 5 $LVSH -c "console deb-1" >/dev/null 2>&1
	until $LVSH -c "log deb-1" | grep -q "$2"; do
		[ "$(date +%s)" -gt $end ] && fail "console: typed '$1', never saw '$2': $($LVSH -c 'log deb-1' | tail -n 8)"
		sleep 0.2
	done
}
console_says "echo sum=\$((40+2))" "^sum=42"
# the vCPU's CPUID has the hypervisor bit (linux_boot.c): kvm-clock
console_says "echo clock=\$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)" "^clock=kvm-clock"
ok "Debian's kernel: lvsh console reaches its shell ($($LVSH -c 'log deb-1' | grep -o 'kernel [^ ]*' | head -n1))"
# init started at its first words, ready at the lv.ready line after them
ph=$(phases_in_order deb-1) || fail "Debian's flight recorder: $($LVSH -c 'inspect deb-1')"
$LVSH --json -c "inspect deb-1" | jq -e '[.vms[0].phases[] | select(.name == "init" or .name == "ready") | .t_ns] | .[0] < .[1]' >/dev/null ||
	fail "init and ready should differ (lv.ready names a later line): $($LVSH -c 'inspect deb-1')"
ok "Debian's kernel's phases (emulated): $ph"
console_says "reboot -f" "stock-linux:.*"
end=$(( $(date +%s) + 60 * TS ))
until [ "$($LVSH -c "log deb-1" | grep -c "^stock-linux:")" -ge 2 ]; do
	[ "$(date +%s)" -gt $end ] && fail "no second boot after the guest's reboot: $($LVSH -c 'log deb-1' | tail -n 8)"
	sleep 0.2
done
[ "$($LVSH --json -c 'inspect deb-1' | jq -r '.vms[0].state')" = running ] || fail "not running after its reboot"
$LVSH -c "log deb-1" | grep -q "lightvm: reboot (ACPI reset register)" ||
	fail "the reboot did not go through the FADT's reset register: $($LVSH -c 'log deb-1' | grep 'lightvm: reboot')"
ok "Debian's kernel: the guest's own reboot (ACPI reset register) boots it again"
console_says "poweroff -f" "Power down\|System halted"
$LVSH -c "wait deb-1 shutoff 20" || fail "guest poweroff: $($LVSH -c 'inspect deb-1')"
reason=$($LVSH --json -c "inspect deb-1" | jq -r '.vms[0].reason')
case $reason in *"ACPI S5"*) ;; *) fail "the poweroff did not go through ACPI (PM1a SLP_EN, S5): $reason";; esac
ok "Debian's kernel: the guest's poweroff ends it shut off ($reason)"
$LVSH -c "destroy deb-1" >/dev/null

# ---- hostile kernels and arguments
head -c 12000000 "$TINYX/kernel" >"$T/trunc"
$LVSH -c "spawn 1 $T/trunc mem=64M name=trunc timeout=20" >"$T/out" 2>&1 && fail "a truncated kernel booted"
$LVSH -c "inspect trunc-1" | grep -Eq "truncated|outside the file" || fail "truncated kernel: $($LVSH -c 'inspect trunc-1')"
ok "a truncated kernel: $($LVSH --json -c 'inspect trunc-1' | jq -r '.vms[0].reason')"
$LVSH -c "spawn 1 $TINYX/kernel mem=16M name=small" >"$T/out" 2>&1 && fail "16 MiB Linux booted"
$LVSH -c "inspect small-1" | grep -q "at least 32 MiB" || fail "small: $($LVSH -c 'inspect small-1')"
printf 'not a kernel' >"$T/junk"
$LVSH -c "spawn 1 $T/junk ramdisk=$TINYX/initrd" >"$T/out" 2>&1 && fail "junk spawned"
grep -q "ELF" "$T/out" || fail "junk: $(cat "$T/out")"
$LVSH -c "spawn 1 $B/images/noop ramdisk=$TINYX/initrd" >"$T/out" 2>&1 && fail "a unikernel took a ramdisk"
grep -q "ramdisk= is for Linux kernels" "$T/out" || fail "no clear error for a unikernel's ramdisk: $(cat "$T/out")"
agent_alive
ok "hostile kernels and arguments: clear errors, the agent runs on"
