# Access control: a member of the socket's group (not of the admin group)
# can list, inspect, stats, wait, but not spawn or destroy; the error says
# why and the agent logs it.  Root may do everything.
. tests/integration/lib.sh
need_kvm
command -v useradd >/dev/null && command -v runuser >/dev/null || skip "useradd/runuser missing"
U=lvt$$
GR=lvtr$$
GA=lvta$$
acl_cleanup() { rc=$?; userdel "$U" 2>/dev/null; groupdel "$GR" 2>/dev/null; groupdel "$GA" 2>/dev/null; cleanup $rc; }
trap acl_cleanup EXIT
groupadd "$GR" && groupadd "$GA" && useradd -M -N -g "$GR" -s /bin/sh "$U" || fail "cannot create test user and groups"
chmod 755 "$T"
# the user must reach the binaries
runuser -u "$U" -- test -x "$B/lvsh" || skip "$B/lvsh is not reachable by an unprivileged user"
printf 'group = %s\nadmin-group = %s\n' "$GR" "$GA" >"$T/agent.conf"
start_agent -f "$T/agent.conf"
[ "$(stat -c '%a %G' "$SOCK")" = "660 $GR" ] || fail "socket is $(stat -c '%a %U:%G' "$SOCK")"
$LVSH -c "spawn 2 noop" >/dev/null || fail "root cannot spawn"
USH="runuser -u $U -- $B/lvsh -S $SOCK --no-autostart"
$USH -c "list" | grep -q noop-1 || fail "group member cannot list"
$USH -c "inspect noop-1; host; pool; wait noop-1 running 2" >/dev/null || fail "group member cannot read"
$USH --json -c "stats" | jq -e '.vms | length == 2' >/dev/null || fail "group member cannot see stats"
out=$($USH -c "destroy noop-1" 2>&1) && fail "group member destroyed a VM"
echo "$out" | grep -q "destroy: permission denied: uid [0-9]* may only read" || fail "unclear denial: $out"
echo "$out" | grep -q "$GA" || fail "denial does not name the admin group: $out"
out=$($USH -c "spawn 1 noop" 2>&1) && fail "group member spawned"
echo "$out" | grep -q "spawn: permission denied" || fail "unclear denial: $out"
out=$($USH -c "pool set 4M/1 3" 2>&1) && fail "group member changed a pool"
out=$($USH -c "pool preload off" 2>&1) && fail "group member changed the pool's preload"
echo "$out" | grep -q "pool preload: permission denied" || fail "unclear denial of pool preload: $out"
$USH -c pool | grep -q "^preload: last$" || fail "the preload changed or is not shown: $($USH -c pool)"
[ "$(count_state running 'noop-*')" = 2 ] || fail "VMs changed by a denied request"
grep -q "access: denied destroy to uid" "$T/agent.log" || fail "denial not logged"
ok "read-only member: list/inspect/stats/wait allowed; spawn/destroy/pool set/pool preload denied with the reason, logged"

usermod -a -G "$GA" "$U" || fail "usermod"
$USH -c "destroy noop-1" >/dev/null || fail "admin group member cannot destroy"
ok "admin group member may destroy"

# snapshot files are opened with the client's rights, not the agent's
mkdir -m 700 "$T/rootonly" && mkdir -m 700 "$T/udir" && chown "$U" "$T/udir"
out=$($USH -c "save noop-2 $T/rootonly/n.lvsnap --keep" 2>&1) && fail "an admin member saved into a root-only directory"
echo "$out" | grep -qi "permission denied" || fail "unclear refusal of a root-only directory: $out"
[ ! -e "$T/rootonly/n.lvsnap" ] || fail "a file was left in the root-only directory"
$USH -c "save noop-2 $T/udir/n.lvsnap --keep" >/dev/null || fail "an admin member cannot save into its own directory"
[ "$(stat -c %U "$T/udir/n.lvsnap")" = "$U" ] || fail "the snapshot belongs to $(stat -c %U "$T/udir/n.lvsnap"), not to the client"
$LVSH -c "save noop-2 $T/root.lvsnap --keep" >/dev/null || fail "root cannot save"
chmod 600 "$T/root.lvsnap"
out=$($USH -c "restore $T/root.lvsnap name=stolen" 2>&1) && fail "an admin member restored a snapshot only root may read"
echo "$out" | grep -qi "permission denied" || fail "unclear refusal of a root-only snapshot: $out"
$USH -c "restore $T/udir/n.lvsnap name=mine" >/dev/null || fail "an admin member cannot restore its own snapshot"
ok "snapshots with the client's rights: no file in a root-only directory, its own file belongs to it, a root-only snapshot is not restored"
$LVSH -c "destroy all" >/dev/null
agent_alive
