# t_platform.sh - the agent says which hypervisor it runs on, and says
# why when it cannot start: `lvsh host` has a platform line (kvm-vmx,
# kvm-svm or kvm-pvm; kvm-svm and "emulated" inside the KVM testbed);
# with no /dev/kvm (a private /dev in a mount namespace) lvsh's autostart
# fails with the agent's own reason, exit status 3, and so does an agent
# whose socket another agent holds.
. tests/integration/lib.sh
need_kvm
command -v unshare >/dev/null || skip "no unshare (util-linux)"
start_agent

plat=$($LVSH --json -c host | jq -r .platform)
case $plat in
kvm-vmx*|kvm-svm*|kvm-pvm*) ok "platform: $plat";;
*) fail "platform '$plat' is not kvm-vmx, kvm-svm or kvm-pvm";;
esac
$LVSH -c host | grep -q "^platform: $plat\$" || fail "no platform line in 'lvsh host'"
if [ "${LV_IN_TESTBED:-}" = kvm ]; then
	case $plat in
	"kvm-svm (emulated"*) ok "the KVM testbed is kvm-svm, emulated";;
	*) fail "inside the KVM testbed the platform is '$plat'";;
	esac
fi

# a second agent on the same socket: refused, and lvsh's autostart is not
# involved (the socket answers); the agent itself says why
"$B/lightvmd" -S "$SOCK" -D "$T/state2" --daemon >"$T/second.out" 2>&1 && fail "a second agent started on a live socket"
grep -qi "already listening\|in use" "$T/second.out" ||
	fail "second agent's reason: $(cat "$T/second.out")"
ok "second agent on a live socket: $(tail -n 1 "$T/second.out")"

# no /dev/kvm: a /dev without it, in a private mount namespace
cat >"$T/nokvm.sh" <<'EOF'
d=$(mktemp -d /tmp/lvnodev.XXXXXX)
mount -t tmpfs tmpfs "$d" || exit 99
for n in null zero urandom random; do touch "$d/$n"; mount --bind /dev/$n "$d/$n"; done
mount --bind "$d" /dev || exit 99
exec "$@"
EOF
unshare -m sh "$T/nokvm.sh" "$B/lvsh" -S "$T/nokvm.sock" -D "$T/nokvm" -c host >"$T/nokvm.out" 2>&1
rc=$?
[ $rc = 99 ] && skip "cannot make a private /dev (mount namespace)"
[ $rc = 3 ] || fail "lvsh without /dev/kvm: exit $rc, not 3: $(cat "$T/nokvm.out")"
grep -q "cannot start agent.*no /dev/kvm: this machine has no KVM" "$T/nokvm.out" ||
	fail "lvsh did not give the agent's reason: $(cat "$T/nokvm.out")"
ok "no /dev/kvm: $(cat "$T/nokvm.out")"
agent_alive
