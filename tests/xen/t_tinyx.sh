# Tinyx on Xen (XenStore mode): the lighttpd image scripts/tinyx builds
# (-p xen: bzImage + initrd; scripts/test-xen puts it in $B/tests/tinyx)
# is under 10 MB, boots from a pooled 64 MiB domain and answers HTTP from
# Dom0 through its netfront, served by lightvmd's backend (the XenStore
# handshake); 50 spawned at once all answer; a config of ours with a vif
# starts 20 that answer; an xl config's unsupported keys are named
# (file, line, key), and the keys that apply are used; destroying them
# leaves no domain or vif entry.  Times are from QEMU/TCG emulation, not performance numbers.
. tests/xen/lib.sh
need_dom0
[ -f "$B/tests/tinyx/kernel" ] ||
	skip "no $B/tests/tinyx (scripts/test-xen builds it with scripts/tinyx -p xen lighttpd; it could not here)"
export LIGHTVM_XEN_MODE=xenstore
MEM=64
mkdir -p "$T/img-xen/tinyx-lighttpd"
cp "$B/tests/tinyx/kernel" "$B/tests/tinyx/initrd" "$T/img-xen/tinyx-lighttpd/"
echo "console=hvc0 quiet" >"$T/img-xen/tinyx-lighttpd/cmdline"
start_agent "pool 4M/1 = 0
pool ${MEM}M/1 = 4
image-dir = $T/img"
grep -q "netif backend through XenStore" "$T/agent.log" || fail "no vif thread: $(grep 'xen:' "$T/agent.log")"

now_ms() { t=$(lv-time -n 2>&1); echo "${t%.*}"; }
# HTTP GET / (busybox nc: the Dom0 busybox's static wget crashes)
get() { printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" | nc -w 3 "$1" 80 2>/dev/null; }
ips() { $LVSH --json -c "list $1" | jq -r '.vms[].ipv4'; }
# answer_all SELECTOR SECONDS: every VM of SELECTOR answers HTTP
answer_all() {
	end=$(( $(date +%s) + $2 ))
	todo=$(ips "$1")
	[ -n "$todo" ] || fail "no VMs in $1"
	while [ -n "$todo" ]; do
		left=
		for ip in $todo; do
			get "$ip" | grep -q "Hello from Tinyx" || left="$left $ip"
		done
		todo=$left
		[ -z "$todo" ] && break
		[ "$(date +%s)" -gt "$end" ] &&
			fail "$(echo $todo | wc -w) of $1 do not answer HTTP after $2 s: $todo; $($LVSH -c "list $1" | head -5)"
		[ "$(count_state crashed "$1")" = 0 ] ||
			fail "crashed: $($LVSH -c "list $1" | grep crashed | head -3); $(grep -i 'crash' "$T/agent.log" | tail -3)"
		sleep 1
	done
}

k=$(stat -c %s "$B/tests/tinyx/kernel"); r=$(stat -c %s "$B/tests/tinyx/initrd")
[ $((k + r)) -lt 10000000 ] || fail "the image is $((k + r)) bytes (kernel $k, initrd $r): not under 10 MB"
head -c 600 "$B/tests/tinyx/kernel" | tail -c 88 | grep -q HdrS || fail "the kernel is not a bzImage"
ok "image: $(( (k + r) / 1024 )) KiB in all (bzImage $((k / 1024)) KiB + initrd $((r / 1024)) KiB)"

# hostile kernels: a cut bzImage, one whose payload is not compressed, junk
head -c 300000 "$B/tests/tinyx/kernel" >"$T/cut"
cp "$B/tests/tinyx/kernel" "$T/raw"
off=$(( ($(od -An -tu1 -j 497 -N 1 "$T/raw") + 1) * 512 + $(od -An -tu4 -j 584 -N 4 "$T/raw") ))
printf 'XXXXXX' | dd of="$T/raw" bs=1 seek=$off conv=notrunc 2>/dev/null
head -c 8192 /dev/urandom >"$T/junk"
for c in "cut:payload .* bytes at" "raw:payload compressed in a format" "junk:neither an ELF64"; do
	$LVSH -c "spawn 1 $T/${c%%:*} mem=${MEM}M" >"$T/out" 2>&1 && fail "${c%%:*} was spawned"
	grep -q "${c#*:}" "$T/out" || fail "${c%%:*}: $(cat "$T/out")"
done
kill -0 "$AGENT_PID" || fail "the agent died"
ok "hostile kernels refused at the request: $(sed 's/^lvsh: spawn: //' "$T/out")"

# one, from the pool: request to first HTTP answer
i=0
until [ "$($LVSH --json -c pool | jq '[.pools[] | select(.flavor | startswith("64M")) | .ready] | add // 0')" -ge 1 ]; do
	i=$((i + 1)); [ $i -gt 600 ] && fail "the ${MEM}M pool never filled: $($LVSH -c pool)"; sleep 0.1
done
t0=$(now_ms)
$LVSH -c "spawn 1 tinyx-lighttpd mem=${MEM}M --nowait" >"$T/out" 2>&1 || fail "spawn: $(cat "$T/out")"
ip=$(ips tinyx-lighttpd-1)
[ -n "$ip" ] && [ "$ip" != null ] || fail "no address: $($LVSH -c 'inspect tinyx-lighttpd-1')"
until get "$ip" | grep -q "Hello from Tinyx"; do
	[ $(( $(now_ms) - t0 )) -gt 120000 ] && fail "no HTTP answer from $ip in 120 s: $($LVSH -c 'log tinyx-lighttpd-1' | tail -5)"
	[ "$(count_state crashed tinyx-lighttpd-1)" = 0 ] || fail "crashed: $($LVSH -c 'list'); $(tail -5 "$T/agent.log")"
	sleep 0.05
done
ms=$(( $(now_ms) - t0 ))
[ "$($LVSH --json -c 'list tinyx-lighttpd-1' | jq -r '.vms[0].pooled')" = true ] ||
	fail "not from the pool: $($LVSH -c 'inspect tinyx-lighttpd-1'); $($LVSH -c pool)"
pid=$($LVSH --json -c 'list tinyx-lighttpd-1' | jq -r '.vms[0].pid')
[ "$(xenstore-read /local/domain/0/backend/vif/$pid/0/state)" = 4 ] || fail "backend not connected"
[ "$(xenstore-read /local/domain/$pid/device/vif/0/state)" = 4 ] || fail "frontend not connected"
ok "Tinyx lighttpd (pooled ${MEM} MiB domain) answers HTTP at $ip $ms ms after the request (TCG-emulated); vif states 4/4"
$LVSH -c "destroy all" >/dev/null || fail "destroy"

# 50 at once (LV_TINYX_N: scripts/test-xen asks fewer of the ASan run)
N=${LV_TINYX_N:-50}
t0=$(now_ms)
$LVSH -c "spawn $N tinyx-lighttpd mem=${MEM}M --nowait" >"$T/out" 2>&1 || fail "spawn $N: $(cat "$T/out")"
answer_all 'tinyx-lighttpd-*' 2400
ok "$N Tinyx lighttpd VMs spawned at once all answer HTTP ($(( ($(now_ms) - t0) / 1000 )) s for all, TCG-emulated)"
$LVSH -c "destroy all" >/dev/null || fail "destroy all"

# a config of ours with a vif: 20
cat >"$T/web.cfg" <<CFG
# a Tinyx web server with a NIC (lightvm.cfg(5))
name    = "web"
kernel  = "$B/tests/tinyx/kernel"
ramdisk = "$B/tests/tinyx/initrd"
extra   = "console=hvc0 quiet"
memory  = $MEM
mode    = "xenstore"
vif     = [ '' ]
CFG
$LVSH -c "create $T/web.cfg 20 --nowait" >"$T/out" 2>&1 || fail "create web.cfg 20: $(cat "$T/out")"
answer_all 'web*' 600
ok "lvsh create web.cfg 20 (a vif): 20 VMs answer HTTP"
$LVSH -c "destroy all" >/dev/null || fail "destroy all"

# a config written for xl: the keys LightVM does not support are named
# (file, line, key) and nothing starts; without those lines, the keys
# that apply (name, type, kernel, ramdisk, extra, memory, vcpus) are used
cat >"$T/xlweb.cfg" <<CFG
# xlweb.cfg: a web server for xl create (xl.cfg(5))
name    = "xlweb"
type    = "pv"
kernel  = "$B/tests/tinyx/kernel"
ramdisk = "$B/tests/tinyx/initrd"
extra   = "console=hvc0 quiet"
memory  = $MEM
vcpus   = 1
uuid    = "5f6b7a4e-2c1d-4b8e-9a0f-3d2e1c0b9a87"
disk    = [ 'phy:/dev/vg0/xlweb,xvda,w' ]
vif     = [ 'mac=00:16:3e:12:34:56,bridge=xenbr0' ]
on_crash = "coredump-restart"
CFG
$LVSH -c "create $T/xlweb.cfg --nowait" >"$T/out" 2>&1 && fail "an xl config with unsupported keys was accepted: $(cat "$T/out")"
for k in 9:uuid 10:disk 11:vif 12:on_crash; do
	grep -q "xlweb.cfg:${k%%:*}: key '${k#*:}'" "$T/out" || fail "no error naming line ${k%%:*} and key ${k#*:}: $(cat "$T/out")"
done
[ "$(count_state running 'xlweb*')" = 0 ] && [ "$($LVSH --json -c 'list xlweb*' | jq '.vms | length')" = 0 ] ||
	fail "a VM started from a file with errors"
sed "$(sed -n "s/.*xlweb.cfg:\([0-9]*\): .*/\1d;/p" "$T/out" | tr -d '\n')" "$T/xlweb.cfg" >"$T/xlweb2.cfg"
$LVSH -c "create $T/xlweb2.cfg --nowait" >"$T/out2" 2>&1 || fail "the config without its refused lines: $(cat "$T/out2")"
answer_all xlweb 300
[ "$($LVSH --json -c 'list xlweb' | jq '.vms[0].mem_bytes')" = $((MEM << 20)) ] ||
	fail "memory = $MEM not applied: $($LVSH --json -c 'list xlweb' | jq -c '.vms[0]')"
ok "an xl config: $(grep -c "key '" "$T/out") unsupported keys named with file and line ($(head -n 1 "$T/out")); without them the keys that apply start xlweb ($MEM MiB), which answers HTTP"
$LVSH -c "destroy all" >/dev/null || fail "destroy all"
$LVSH -c "pool set ${MEM}M/1 0" >/dev/null || fail "pool set 0"
sleep 1
[ "$(xen_domains)" = 1 ] || fail "domains left: $(xl list)"
[ -z "$(xenstore-list /local/domain/0/backend/vif 2>/dev/null)" ] ||
	fail "vif backends left: $(xenstore-list /local/domain/0/backend/vif)"
ok "all destroyed: no domain, no vif backend left"
