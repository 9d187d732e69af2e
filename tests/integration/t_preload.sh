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

$LVSH -c "pool set 4M/1 4" >/dev/null || fail "pool set"
tsleep 1
$LVSH -c "spawn 1 ballast name=b" >/dev/null || fail "spawn ballast"
until_state b-1 running
[ "$(pre b-1)" = false ] || fail "the first spawn of ballast says preloaded"
settle
$LVSH -c "spawn 1 ballast name=c" >/dev/null || fail "spawn ballast again"
until_state c-1 running
[ "$(pre c-1)" = true ] || fail "the second spawn of ballast: not preloaded ($($LVSH -c 'inspect c-1' | grep pooled))"
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
$LVSH -c "spawn 1 $T/img name=f" >/dev/null || fail "spawn $T/img"
until_state f-1 running
settle
$LVSH -c "spawn 1 $T/img name=g" >/dev/null || fail "spawn $T/img again"
until_state g-1 running
[ "$(pre g-1)" = true ] || fail "$T/img spawned twice: not preloaded"
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
$LVSH -c "spawn 1 echo name=e" >/dev/null || fail "spawn echo"
until_state e-1 running
settle
$LVSH -c "spawn 1 echo name=k" >/dev/null || fail "spawn echo again"
until_state k-1 running
[ "$(pre k-1)" = true ] || fail "the second echo: not preloaded"
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
