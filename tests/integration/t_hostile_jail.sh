# The shell jail: every VM's shell runs as its own uid (2000000000 + pid)
# with no_new_privs and a seccomp filter (shown in /proc), chrooted in an
# empty directory, in an empty network namespace, without /dev/kvm and
# without the agent's log on fd 2.  An escaped shell (tests/tools/
# lv-jailtest: the same jail, then hostile code in place of the vCPU
# loop) can neither signal another VM's shell, open a file outside its
# jail or /dev/kvm, reach the network, fork nor exec.
. tests/integration/lib.sh
need_kvm
start_agent
$LVSH -c "spawn 2 noop; spawn 1 daytime" >/dev/null || fail "spawn"
pids=$($LVSH --json -c list | jq -r '.vms[].pid')
host_net=$(readlink /proc/self/ns/net)
uids=""
for p in $pids; do
	st=/proc/$p/status
	grep -q "^Seccomp:[[:space:]]*2" $st || fail "shell $p: $(grep Seccomp $st)"
	grep -q "^NoNewPrivs:[[:space:]]*1" $st || fail "shell $p: no no_new_privs"
	u=$(awk '/^Uid:/ {print $2}' $st)
	[ "$u" = $((2000000000 + p)) ] || fail "shell $p runs as uid $u"
	uids="$uids $u"
	[ "$(readlink /proc/$p/root)" = "$RUN/shells/.jail" ] || fail "shell $p root: $(readlink /proc/$p/root)"
	[ "$(readlink /proc/$p/ns/net)" != "$host_net" ] || fail "shell $p is in the host's network namespace"
	ls -l /proc/$p/fd | grep -q /dev/kvm && fail "shell $p keeps /dev/kvm open"
	[ "$(readlink /proc/$p/fd/2)" = /dev/null ] || fail "shell $p fd 2: $(readlink /proc/$p/fd/2)"
	awk '/Max processes/ {exit !($3 == 0)}' /proc/$p/limits || fail "shell $p may fork"
done
[ "$(echo $uids | tr ' ' '\n' | sort -u | wc -l)" = 3 ] || fail "shells share uids:$uids"
[ -z "$(ls -A "$RUN/shells/.jail")" ] || fail "the jail directory is not empty"
ok "3 shells: own uids, seccomp 2, no_new_privs, chroot in an empty dir, own netns, no /dev/kvm, fd 2 /dev/null"

# the daytime guest still answers through its tap (the netns is the shell's, not the guest's)
$LVSH -c "wait daytime-1 running 5" >/dev/null || fail "daytime not running"

victim=$(echo $pids | awk '{print $1}')
mkdir -p "$T/jt"
$B/tests/lv-jailtest "$T/jt" "$victim" >"$T/jail.out"
rc=$?
cat "$T/jail.out" | sed 's/^/    /'
[ $rc = 0 ] || fail "the escaped shell got through: $(grep ALLOWED "$T/jail.out")"
grep -q "^Seccomp:[[:space:]]*2" "$T/jail.out" || fail "no seccomp in /proc for the escaped shell"
kill -0 "$victim" || fail "the victim shell is gone"
[ "$(count_state running 'noop-*')" = 2 ] || fail "a VM changed state"
ok "an escaped shell: every hostile attempt denied, the other VMs untouched"
agent_alive
