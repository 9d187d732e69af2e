# t_preload.sh - preloaded images (lightvmd(8), "Preloaded images"): once
# a pooled spawn has started an image, pooled shells hold it loaded, and
# the next spawn of it loads nothing (inspect: "preloaded").  A spawn of
# another image on such a shell finds none of the preloaded one in its
# memory (memscan after ballast's 256 KiB of 0x5a); a file changed in
# place is not mistaken for the one preloaded; a preloaded guest reboots
# from its image; the operator names the image (pool preload, the
# config's pool-preload) or turns preloads off; under ASan/UBSan as well
# (scripts/test).
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

# the operator names the image (lvsh pool preload; pool-preload in the
# config): it stays while other images are spawned, "off" stops it,
# and bad names are refused by name with the setting unchanged
$LVSH -c pool | grep -q "^preload: last$" || fail "pool does not show the preload: $($LVSH -c pool)"
refused() {  # ARG EXPECTED
	out=$($LVSH -c "pool preload '$1'" 2>&1) && fail "pool preload $1 was taken"
	echo "$out" | grep -q "$2" || fail "pool preload $1: unclear error: $out"
}
refused nosuch "unknown image 'nosuch'"
refused /etc/passwd "image '/etc/passwd'"
refused "$(printf 'no\033[2Jop')" "control character (0x1b)"
refused "$T" "not a regular file"
head -c 2M /dev/zero >"$T/big"
refused "$T/big" "image '$T/big'"
[ "$($LVSH --json -c pool | jq -r .preload)" = last ] || fail "a refused preload changed it"
$LVSH -c "pool preload echo" | grep -q "^pool: preload echo$" || fail "pool preload echo"
settle
$LVSH -c "spawn 1 noop name=p" >/dev/null || fail "spawn noop"
until_state p-1 running
[ "$(pre p-1)" = false ] || fail "noop preloaded while the pool holds echo"
settle
$LVSH -c "spawn 1 echo name=q" >/dev/null || fail "spawn echo"
until_state q-1 running
[ "$(pre q-1)" = true ] || fail "echo named by the operator, but not preloaded after a spawn of noop"
ok "pool preload echo: held across a spawn of noop, and the spawn of echo loaded nothing"
# the named file changed in place: loaded anew, then preloaded as it is now
cp "$B/images/echo" "$T/pin"
$LVSH -c "pool preload $T/pin" >/dev/null || fail "pool preload $T/pin"
settle
cat "$B/images/hello" >"$T/pin"
$LVSH -c "spawn 1 $T/pin name=u" >/dev/null || fail "spawn the changed $T/pin"
until_state u-1 shutoff
[ "$(pre u-1)" = false ] || fail "the named file changed, but taken for its preload"
grep -q "^hello from u-1$" "$(console_log u-1)" || fail "the changed $T/pin did not run: $(cat "$(console_log u-1)")"
settle
$LVSH -c "spawn 1 $T/pin name=v" >/dev/null || fail "spawn $T/pin again"
until_state v-1 shutoff
[ "$(pre v-1)" = true ] || fail "the named file, changed in place, is not preloaded again"
ok "the named file changed in place: loaded anew, then preloaded as it is now"
$LVSH -c "pool preload off" >/dev/null || fail "pool preload off"
settle
$LVSH -c "spawn 1 echo name=r" >/dev/null || fail "spawn echo"
until_state r-1 running
[ "$(pre r-1)" = false ] || fail "preload off, but echo preloaded"
ok "pool preload off: the spawn loaded its image"
agent_alive
# the config's pool-preload: the first spawn after the agent's start
# finds its image loaded
stop_agent
printf 'pool 4M/1 = 4\npool-preload = echo\n' >"$T/conf"
start_agent -f "$T/conf"
[ "$($LVSH --json -c pool | jq -r .preload)" = echo ] || fail "the config's pool-preload: $($LVSH -c pool)"
end=$(( $(date +%s) + 60 * TS ))
until [ "$($LVSH --json -c pool | jq '[.pools[] | select(.flavor == "4M/1")][0].ready')" = 4 ]; do
	[ "$(date +%s)" -gt $end ] && fail "the pool did not fill: $($LVSH -c pool)"
	sleep 0.1
done
settle
$LVSH -c "spawn 1 echo name=s" >/dev/null || fail "spawn echo"
until_state s-1 running
[ "$(pre s-1)" = true ] || fail "pool-preload = echo, but the first spawn after the start was not preloaded"
grep -q "pool: preload echo" "$T/agent.log" || fail "the preload is not logged"
ok "pool-preload = echo in the config: the first spawn after the agent's start loaded nothing"
agent_alive
