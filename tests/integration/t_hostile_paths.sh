# Admin paths are opened as root but only as regular files: a FIFO given
# as an image (by path, or through a catalog name) or as a device node is
# a clear error at once, and the agent never hangs on it.
. tests/integration/lib.sh
need_kvm
mkdir -p "$T/img"
mkfifo "$T/fifo" "$T/img/pipe"
ln -s "$T/fifo" "$T/img/viasym"
start_agent -I "$T/img"
for img in "$T/fifo" pipe viasym /dev/null /dev/zero; do
	out=$(timeout $((5 * TS)) $LVSH -c "spawn 1 $img" 2>&1)
	rc=$?
	[ $rc = 124 ] && fail "spawn 1 $img: the agent hung"
	[ $rc != 0 ] || fail "spawn 1 $img succeeded"
	echo "$out" | grep -q "not a regular file" || fail "spawn 1 $img: $out"
done
t0=$(date +%s%3N); $LVSH -c host >/dev/null || fail "host"; t1=$(date +%s%3N)
[ $((t1 - t0)) -lt $((1000 * TS)) ] || fail "host took $((t1 - t0)) ms"
agent_alive
ok "a FIFO (path, catalog name, symlink) or a device as an image: 'not a regular file', no hang"
