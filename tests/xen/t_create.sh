# VM config files on Xen (lvsh create, lightvm.cfg(5)), XenStore mode: the
# testbed's xl config of its stock Linux PV guest starts it through
# lightvmd (kernel, ramdisk, extra, memory, type, vcpus applied); a Tinyx
# image (scripts/tinyx, copied to $B/tests/tinyx) boots to its program,
# from a config file and, as an image directory of the catalog, by name.
. tests/xen/lib.sh
need_dom0
export LIGHTVM_XEN_MODE=xenstore
start_agent "pool 4M/1 = 0"

wait_console() {  # VM REGEX WHAT
	i=0
	until $LVSH -c "log $1" 2>/dev/null | grep -Eq "$2"; do
		i=$((i + 1))
		[ $i -gt 1200 ] && fail "$3: $($LVSH -c "log $1" | tail -5)"
		[ "$(count_state crashed "$1")" = 1 ] && fail "$1 crashed: $($LVSH -c "log $1" | tail -5)"
		sleep 0.1
	done
}

tried=0
if [ -f /testbed/linux.cfg ]; then
	printf 'name = "xl-linux"\nmode = "xenstore"\n' | cat /testbed/linux.cfg - >"$T/linux.cfg"
	$LVSH -c "create $T/linux.cfg --nowait" >"$T/out" 2>&1 || fail "create linux.cfg: $(cat "$T/out")"
	wait_console xl-linux "^LINUX-GUEST-UP" "the xl config's Linux did not reach its init"
	ok "the testbed's xl config (type, kernel, ramdisk, extra, memory, vcpus): Linux PV guest up through lvsh create"
	$LVSH -c "destroy all" >/dev/null
	tried=1
fi
if [ -f "$B/tests/tinyx/kernel" ]; then
	cat >"$T/tinyx.cfg" <<EOF
name    = "tinyx"
kernel  = "$B/tests/tinyx/kernel"
ramdisk = "$B/tests/tinyx/initrd"
extra   = "console=hvc0"
memory  = 64
type    = "pv"
mode    = "xenstore"
EOF
	t0=$(lv-time -n 2>&1); t0=${t0%.*}
	$LVSH -c "create $T/tinyx.cfg --nowait" >"$T/out" 2>&1 || fail "create tinyx.cfg: $(cat "$T/out")"
	wait_console tinyx "^tinyx: exec " "Tinyx did not reach its program"
	t1=$(lv-time -n 2>&1); ms=$(( ${t1%.*} - t0 ))
	sleep 2
	[ "$(count_state crashed tinyx)" = 0 ] || fail "tinyx crashed: $($LVSH -c 'log tinyx' | tail -5)"
	ok "Tinyx ($(du -k "$B/tests/tinyx/kernel" | cut -f1) KiB kernel, $(du -k "$B/tests/tinyx/initrd" | cut -f1) KiB initrd) boots to '$($LVSH -c 'log tinyx' | grep '^tinyx: exec' | head -1)' in $ms ms (under TCG)"
	$LVSH -c "destroy all" >/dev/null
	# the same as an image directory of the catalog: listed, spawned by name
	stop_agent
	mkdir -p "$T/img-xen/tinyx-lighttpd"
	cp "$B/tests/tinyx/kernel" "$B/tests/tinyx/initrd" "$T/img-xen/tinyx-lighttpd/"
	echo "console=hvc0 tinyx.test=1" >"$T/img-xen/tinyx-lighttpd/cmdline"
	start_agent "pool 4M/1 = 0
image-dir = $T/img"
	$LVSH -c "spawn 3 tinyx-lighttpd mem=64M --nowait" >"$T/out" 2>&1 || fail "spawn 3 tinyx-lighttpd: $(cat "$T/out")"
	for n in 1 2 3; do
		wait_console tinyx-lighttpd-$n "^tinyx: exec " "tinyx-lighttpd-$n did not reach its program"
	done
	$LVSH -c "log tinyx-lighttpd-2" | grep -q "Kernel command line:.*tinyx.test=1" ||
		fail "the image's cmdline file is not on the command line: $($LVSH -c 'log tinyx-lighttpd-2' | grep 'command line')"
	ok "an image directory (kernel, initrd, cmdline) in the catalog: spawn 3 tinyx-lighttpd boots 3 to lighttpd"
	$LVSH -c "destroy all" >/dev/null
	tried=1
fi
[ $tried = 1 ] || skip "no /testbed/linux.cfg (run the testbed with -L) and no $B/tests/tinyx"
stop_agent
