# Bad input of every kind; after each, the agent still serves correctly.
. tests/integration/lib.sh
need_kvm
start_agent
RAW=$B/tests/lv-rawclient
still_ok() {
	agent_alive
	$LVSH -c host >/dev/null || fail "agent does not answer after: $1"
	ok "$1"
}

out=$($LVSH -c "spawn 1 nosuchimage" 2>&1) && fail "unknown image accepted"
echo "$out" | grep -q "unknown image 'nosuchimage'" || fail "unclear error: $out"
still_ok "unknown image"

out=$($LVSH -c "spawn 0 noop" 2>&1) && fail "count 0 accepted"
still_ok "count 0: $out"
out=$($LVSH -c "spawn 1000000000 noop" 2>&1) && fail "absurd count accepted"
still_ok "absurd count: $out"
out=$($LVSH -c "spawn 1 noop mem=3G" 2>&1) && fail "absurd memory accepted"
still_ok "absurd memory: $out"
out=$($LVSH -c "spawn 1 noop ramdisk=/etc/hostname" 2>&1) && fail "ramdisk= accepted on KVM"
echo "$out" | grep -q "ramdisk= is for" || fail "ramdisk= on KVM: $out"
out=$($LVSH -c "spawn 1 noop cmdline='a=b'" 2>&1) && fail "cmdline= accepted on KVM"
still_ok "ramdisk=, cmdline= refused on KVM: $out"

for m in garbage badmagic badversion oversize badtype badbody truncated-header truncated-body; do
	r=$($RAW "$SOCK" $m) || fail "rawclient $m"
	still_ok "frame $m -> $r"
done
r=$($RAW "$SOCK" ok-host)
echo "$r" | grep -q "reply seq=42 err=0" || fail "sequence not echoed: $r"
# several requests in one write, and one a byte at a time: every one
# answered, in order (the agent's first read per frame takes 256 bytes)
r=$($RAW "$SOCK" pipelined) || fail "rawclient pipelined"
[ "$r" = "pipelined 40 replies in order" ] || fail "pipelined requests: $r"
r=$($RAW "$SOCK" dribble) || fail "rawclient dribble"
echo "$r" | grep -q "reply seq=43 err=0" || fail "a request sent a byte at a time: $r"
still_ok "40 requests in one write answered in order; one sent a byte at a time answered"

# a client that disconnects in the middle of a spawn
( $LVSH -c "spawn 100 noop" >/dev/null 2>&1 & p=$!; sleep 0.05; kill -9 $p ) 2>/dev/null
sleep 1
still_ok "client killed mid-spawn"

head -c 5000 /dev/urandom >"$T/notelf"
out=$($LVSH -c "spawn 1 $T/notelf" 2>&1) && fail "non-ELF image accepted"
echo "$out" | grep -qi "not an ELF" || fail "unclear error for non-ELF: $out"
still_ok "non-ELF image"
printf '\177ELF\002\001\001' >"$T/truncelf"
out=$($LVSH -c "spawn 1 $T/truncelf" 2>&1) && fail "truncated ELF accepted"
still_ok "truncated ELF: $out"

for img in crash badring badcall; do
	$LVSH -c "spawn 1 $img" >/dev/null 2>&1
	i=0
	while [ "$(count_state crashed "$img-1")" != 1 ]; do
		i=$((i + 1)); [ $i -gt $((50 * TS)) ] && fail "$img did not end as crashed: $($LVSH -c "inspect $img-1")"; sleep 0.1
	done
	reason=$($LVSH --json -c "inspect $img-1" | jq -r '.vms[0].reason')
	still_ok "$img crashed: $reason"
done
$LVSH --json -c "inspect crash-1" | jq -r '.vms[0].reason' | grep -q "#PF" || fail "crash reason lacks #PF"
$LVSH --json -c "inspect badring-1" | jq -r '.vms[0].reason' | grep -qi "console ring" || fail "badring reason"
$LVSH --json -c "inspect badcall-1" | jq -r '.vms[0].reason' | grep -qi "hypercall" || fail "badcall reason"

out=$($LVSH -c "destroy" 2>&1) && fail "destroy without selector accepted"
out=$($LVSH -c "pause no-such-vm" 2>&1) && fail "pause of a missing VM succeeded"
echo "$out" | grep -q "no-such-vm" || fail "unclear error: $out"
$LVSH -c "spawn 3 noop name=final" >/dev/null || fail "spawn after all that"
[ "$(count_state running "final-*")" = 3 ] || fail "3 final VMs not running"
$LVSH -c "destroy all" >/dev/null || fail "destroy all"
still_ok "normal service after the negative tests"

# lightvm-factory is started by lightvmd only: by hand, with other
# arguments or without its two descriptors, it refuses with a clear
# word and exit 2, and forks nothing
F=$B/lightvm-factory
if [ -x "$F" ]; then
	factory_refuses() {  # factory_refuses WORDS CMD...: exit 2, stderr has WORDS
		want=$1; shift
		out=$("$@" 2>&1 </dev/null); rc=$?
		[ $rc = 2 ] || fail "lightvm-factory $*: exit $rc, not 2: $out"
		echo "$out" | grep -q "$want" || fail "lightvm-factory $*: unclear refusal: $out"
	}
	factory_refuses "protocol none" "$F"
	factory_refuses "this one has protocol lightvm-factory-0" "$F" lightvm-factory-0 -
	factory_refuses "fd 3 must be lightvmd's socket" sh -c "exec \"$F\" lightvm-factory-1 - 3<&- 4<&-"
	factory_refuses "fd 3 must be lightvmd's socket" sh -c "exec \"$F\" lightvm-factory-1 - 3</dev/null 4</dev/null"
	ok "lightvm-factory by hand: refused (no arguments, another protocol, no socket and /dev/kvm at fds 3 and 4)"
fi
