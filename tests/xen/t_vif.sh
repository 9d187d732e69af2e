# Stock guests' NICs on Xen (XenStore mode): the testbed's Debian kernel
# loads its own xen-netfront, connects to lightvmd's backend (vif states,
# ring refs, event channel through XenStore) and pings Dom0's end of the
# bridge; Dom0 pings it.  Then what a hostile frontend may write in its
# XenStore directory (written here from Dom0 for a guest whose netfront
# is not loaded: the same values a guest could write) crashes that VM
# with a clear reason and nothing else: bad numbers, an unknown state, a
# channel it does not have, no rx-copy, a storm of state changes (300
# at once: more than a burst of 64 at 16 a second).  The
# agent keeps serving.  Needs the testbed's Linux guest (-L).
. tests/xen/lib.sh
need_dom0
[ -f /testbed/vmlinux ] || skip "no /testbed/vmlinux (run the testbed with -L)"
export LIGHTVM_XEN_MODE=xenstore
start_agent "pool 4M/1 = 0"

wait_log() {  # VM REGEX WHAT
	i=0
	until $LVSH -c "log $1" 2>/dev/null | grep -Eq "$2"; do
		i=$((i + 1))
		[ $i -gt 1800 ] && fail "$3: $($LVSH -c "log $1" | tail -5)"
		[ "$(count_state crashed "$1")" = 0 ] || fail "$1 crashed: $($LVSH -c "inspect $1" | grep -i reason)"
		sleep 0.1
	done
}
linux() {  # NAME [EXTRA]
	$LVSH -c "spawn 1 /testbed/vmlinux mem=128M name=$1 ramdisk=/testbed/linux-initrd.gz cmdline='quiet ${2:-}' --nowait" \
		>"$T/out" 2>&1 || fail "spawn $1: $(cat "$T/out")"
}

linux lnet
wait_log lnet-1 "^LINUX-NET-(UP|DOWN)" "the Debian kernel did not try its network"
$LVSH -c "log lnet-1" | grep -q "^LINUX-NET-UP" || fail "$($LVSH -c 'log lnet-1' | grep LINUX-NET)"
ip=$($LVSH --json -c 'list lnet-1' | jq -r '.vms[0].ipv4')
ping -c 2 -W 5 "$ip" >/dev/null || fail "Dom0 cannot ping the guest at $ip"
ok "the testbed's Debian kernel (its xen-netfront) reaches the network: $($LVSH -c 'log lnet-1' | grep '^LINUX-NET-UP'); Dom0 pings $ip"
$LVSH --json -c stats | jq -e '.vms[] | select(.name == "lnet-1") | .net_rx_packets > 0 and .net_tx_packets > 0' >/dev/null ||
	fail "no NIC counters: $($LVSH --json -c stats | jq -c '.vms[] | select(.name == "lnet-1")')"
$LVSH -c "destroy all" >/dev/null

# hostile frontends: a guest that does not load its netfront ("ip=" last:
# its init leaves the NIC alone), Dom0 writes in its frontend directory
hostile() {  # CASE REASON-REGEX KEY=VALUE...
	name=$1 why=$2; shift 2
	linux "$name" "ip="
	wait_log "$name-1" "^LINUX-GUEST-UP" "$name did not boot"
	pid=$($LVSH --json -c "list $name-1" | jq -r '.vms[0].pid')
	fe=/local/domain/$pid/device/vif/0
	set --$(for kv in "$@"; do printf ' %s/%s %s' "$fe" "${kv%%=*}" "${kv#*=}"; done)
	xenstore-write "$@" || fail "xenstore-write $*"
	i=0
	until [ "$(count_state crashed "$name-1")" = 1 ]; do
		i=$((i + 1)); [ $i -gt 300 ] && fail "$name: not crashed after writing $*: $($LVSH -c "inspect $name-1" | head -5)"
		sleep 0.1
	done
	r=$($LVSH --json -c "list $name-1" | jq -r '.vms[0].reason')
	echo "$r" | grep -Eq "$why" || fail "$name: reason '$r', expected /$why/"
	kill -0 "$AGENT_PID" || fail "the agent died"
	echo "    $name: $r"
	$LVSH -c "destroy $name-1" >/dev/null
}
hostile badref "tx-ring-ref 'abc' is not a number" tx-ring-ref=abc rx-ring-ref=9 event-channel=5 request-rx-copy=1 state=4
hostile bigref "rx-ring-ref '99999999999' is not a number" tx-ring-ref=8 rx-ring-ref=99999999999 event-channel=5 request-rx-copy=1 state=4
hostile badstate "state '9' is not a number up to 8" state=9
hostile nochan "cannot bind its event channel 1000" tx-ring-ref=8 rx-ring-ref=9 event-channel=1000 request-rx-copy=1 state=4
hostile norefs "without tx-ring-ref" state=4
hostile nocopy "no request-rx-copy" tx-ring-ref=8 rx-ring-ref=9 event-channel=5 request-rx-copy=0 state=4
hostile storm "more than 64 state changes at over 16 a second" $(for i in $(seq 1 150); do printf 'state=1 state=6 '; done)
ok "hostile frontend values crash only their VM, with the reason"
$LVSH -c "spawn 1 noop" >/dev/null || fail "the agent does not serve after the hostile frontends"
$LVSH -c "destroy all" >/dev/null
sleep 0.5
[ -z "$(xenstore-list /local/domain/0/backend/vif 2>/dev/null)" ] ||
	fail "vif backends left: $(xenstore-list /local/domain/0/backend/vif)"
ok "no vif backend left in XenStore"
