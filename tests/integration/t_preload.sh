# t_preload.sh - preloaded images (lightvmd(8), "Preloaded images"): once
# a pooled spawn has started an image, pooled shells hold it loaded, and
# the next spawn of it loads nothing (inspect: "preloaded").  A spawn of
# another image on such a shell finds none of the preloaded one in its
# memory (memscan after ballast's 256 KiB of 0x5a); a file changed in
# place is not mistaken for the one preloaded; a preloaded guest reboots
# from its image; under ASan/UBSan as well (scripts/test).
. tests/integration/lib.sh
need_kvm
start_agent

# state NAME: its state (shutoff once it powered off)
state() { $LVSH --json -c "inspect $1" | jq -r '.vms[0].state'; }
pre() { $LVSH --json -c "inspect $1" | jq -r '.vms[0].preloaded // false'; }
until_state() {  # NAME STATE
	end=$(( $(date +%s) + 20 * TS ))
	until [ "$(state "$1")" = "$2" ]; do
		[ "$(date +%s)" -gt $end ] && fail "$1: not $2 but $(state "$1")"
		sleep 0.05
	done
}
# until the 4 pooled shells are back and hold the last image (a refill
# gets it at once, ready shells when the agent is idle)
settle() { tsleep 1; }
# spawn_twice IMAGE A B STATE: A, then (the pool settled) B, each until
# STATE; B's shell held IMAGE loaded
spawn_twice() {
	$LVSH -c "spawn 1 $1 name=$2" >/dev/null || fail "spawn $1"
	until_state "$2-1" "$4"
	settle
	$LVSH -c "spawn 1 $1 name=$3" >/dev/null || fail "spawn $1 again"
	until_state "$3-1" "$4"
	[ "$(pre "$3-1")" = true ] || fail "$1 spawned twice: not preloaded ($($LVSH -c "inspect $3-1" | grep pooled))"
}

$LVSH -c "pool set 4M/1 4" >/dev/null || fail "pool set"
tsleep 1
spawn_twice ballast b c running
[ "$(pre b-1)" = false ] || fail "the first spawn of ballast says preloaded"
$LVSH -c "inspect c-1" | grep -q "^pooled: yes (its image was preloaded)$" || fail "inspect does not say preloaded"
grep -q "^ballast: 262144 bytes of 0x5a$" "$(console_log c-1)" || fail "preloaded ballast: $(cat "$(console_log c-1)")"
ok "a pooled shell held ballast loaded: the second spawn loaded nothing, and runs"

settle
$LVSH -c "spawn 1 memscan name=m" >/dev/null || fail "spawn memscan"
until_state m-1 shutoff
[ "$(pre m-1)" = false ] || fail "memscan on a ballast shell says preloaded"
log=$(cat "$(console_log m-1)")
[ "$log" = "memscan: clean" ] || fail "memscan on a shell that held ballast: $log"
[ "$($LVSH --json -c 'inspect m-1' | jq '.vms[0].exit_code')" = 0 ] || fail "memscan's exit code"
ok "memscan on a shell that held ballast preloaded: $log"
settle
$LVSH -c "spawn 1 memscan name=n" >/dev/null || fail "spawn memscan again"
until_state n-1 shutoff
[ "$(pre n-1)" = true ] || fail "the second memscan: not preloaded"
[ "$(cat "$(console_log n-1)")" = "memscan: clean" ] || fail "preloaded memscan: $(cat "$(console_log n-1)")"
ok "memscan preloaded: clean as well"

# the same path, changed in place (same inode): the new content runs
cp "$B/images/noop" "$T/img"
spawn_twice "$T/img" f g running
ino=$(stat -c %i "$T/img")
cat "$B/images/hello" >"$T/img"
[ "$(stat -c %i "$T/img")" = "$ino" ] || fail "cat changed the inode"
$LVSH -c "spawn 1 $T/img name=h" >/dev/null || fail "spawn the changed $T/img"
until_state h-1 shutoff
[ "$(pre h-1)" = false ] || fail "a changed file was taken for the preloaded one"
grep -q "^hello from h-1$" "$(console_log h-1)" || fail "the changed file did not run: $(cat "$(console_log h-1)")"
ok "a file changed in place is loaded anew, not taken for the preload"

# a preloaded guest reboots from its image (its shell loads it again
# from the file the preload gave it): two boots in its log, same shell
spawn_twice echo e k running
pid=$($LVSH --json -c "inspect k-1" | jq '.vms[0].pid')
$LVSH -c "reboot k-1" >/dev/null || fail "reboot k-1"
end=$(( $(date +%s) + 20 * TS ))
until [ "$(grep -c '^echo: ready' "$(console_log k-1)")" = 2 ]; do
	[ "$(date +%s)" -gt $end ] && fail "k-1 after reboot: $(state k-1): $(cat "$(console_log k-1)")"
	sleep 0.05
done
until_state k-1 running
[ "$($LVSH --json -c "inspect k-1" | jq '.vms[0].pid')" = "$pid" ] || fail "k-1 got another shell at its reboot"
ok "a preloaded guest rebooted in its shell: booted twice, running"
agent_alive
