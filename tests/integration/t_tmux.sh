# t_tmux.sh - the real lvsh in a real terminal (tmux, on a private tmux
# server): the REPL with completion, 2,000 VMs in the live view (sort,
# filter, scroll, resize, inspect panel, tiles) and console attach with
# the echo image.  Every step polls the screen (capture-pane) until it
# shows what it must, with a timeout; no fixed sleeps.
. tests/integration/lib.sh
need_kvm
command -v tmux >/dev/null 2>&1 || skip "tmux is not installed (scripts/setup)"
start_agent

TM="tmux -L lvtest$$ -f /dev/null"
trap 'rc=$?; $TM kill-server 2>/dev/null; cleanup $rc' EXIT
screen() { $TM capture-pane -p -t lv 2>/dev/null; }
keys() { $TM send-keys -t lv "$@"; }
# the screen must not show ERE now
wait_gone() {
	n=$(( ${2:-10} * 50 * TS )); i=0
	while screen | grep -Eq -- "$1"; do
		i=$((i + 1))
		[ $i -gt $n ] && { echo "--- screen:"; screen; fail "the screen still shows /$1/"; }
		sleep 0.02
	done
}

$TM new-session -d -s lv -x 160 -y 45 "HOME=$T $B/lvsh -S $SOCK --no-autostart"
wait_for '^lvsh [^ ]+:0> ?$'

# ---- REPL: complete a command, then a VM name
keys "insp" Tab
wait_for '> inspect$'
$LVSH -c "spawn 3 noop name=tabvm" >/dev/null || fail "spawn tabvm"
keys "tabvm-" Tab Tab
wait_for '^tabvm-1 +tabvm-2 +tabvm-3'
keys "2" Enter
wait_for '^name: tabvm-2$'
keys "help top" Enter
wait_for '^usage: top \[interval=SEC\]'
[ -s "$T/.lvsh_history" ] || sleep 0  # written at exit; checked below
ok "REPL: prompt with the VM count, command and VM-name completion"

keys "spawn 2000 noop" Enter
wait_for '^spawned 2000 VMs \(noop-1 \.\. noop-2000\)' 60
wait_for '^lvsh [^ ]+:2003> ?$'
ok "2,000 noop VMs from the REPL; the prompt counts them"

# ---- live view
keys "top" Enter
wait_for '^2003 of 2003 VMs: 2003 running'
wait_for '^Sort: N name'
keys N
wait_for '^NAME\^'
keys Home	# the selection follows its VM; go to the top
wait_for '^noop-1 +[0-9]+ running +noop'
keys r
wait_for '^NAMEv'
keys Home
wait_for '^tabvm-3 +[0-9]+ running'
ok "top: sort by name, reversed"

keys / "state:running noop-19*" Enter
wait_for "^filter 'state:running noop-19\*' - 111 of 2003 VMs"
keys End
wait_for '^noop-19 +[0-9]+ running'
wait_gone '^noop-1999 '
ok "top: filter (111 of 2003), scrolled to the end"

$TM resize-window -t lv -x 100 -y 30
wait_for '^Sort: N name  I id'
[ "$(screen | awk '{ if (length($0) > m) m = length($0) } END { print m }')" -le 100 ] ||
	fail "lines wider than the resized window"
wait_for '^noop-19 +[0-9]+ running'
ok "top: resized to 100x30, selection still on screen"

keys Enter
wait_for '^inspect noop-19 - Esc'
wait_for '^flight recorder'
wait_for 'ready [0-9]+'
keys Escape
wait_gone '^inspect noop-19'
wait_for '^NAMEv'
ok "top: inspect panel opened and closed"

keys Escape t
wait_for '^tiles by state'
wait_for '^R{100}$'
wait_for "^2003 of 2003 VMs"
keys Enter
wait_for '^NAMEv'
ok "top: tile view (one cell per VM), drill down back to the table"

keys q
wait_for '^lvsh [^ ]+:2003> ?$'
ok "top: q returns to the prompt"

# ---- console attach with the echo image
keys "spawn 1 echo" Enter
wait_for '^spawned 1 VM \(echo-1\)'
keys "console echo-1" Enter
wait_for '^echo: ready, type something'
wait_for 'attached; Ctrl-\] detaches'
keys "ping-42" Enter
wait_for '^ping-42$'
keys C-]
wait_for '^\[echo-1: detached\]'
wait_for '^lvsh [^ ]+:2004> ?$'
$LVSH -c "log echo-1" | grep -qx "ping-42" || fail "echo-1 log: $($LVSH -c 'log echo-1')"
ok "console: log shown, input echoed by the guest, Ctrl-] detaches"

keys "quit" Enter
i=0
while $TM has-session -t lv 2>/dev/null; do
	i=$((i + 1)); [ $i -gt $((250 * TS)) ] && fail "lvsh did not quit"; sleep 0.02
done
grep -Fq 'spawn\0402000\040noop' "$T/.lvsh_history" || fail "no history in $T/.lvsh_history"
ok "quit; history kept in ~/.lvsh_history"

$LVSH -c "destroy all" >/dev/null || fail "destroy all"
agent_alive
