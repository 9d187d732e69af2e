# t_dumb.sh - the live view on a terminal curses cannot drive (TERM=dumb,
# in tmux): plain frames whose lines fit the width, the two summary lines
# naming the same states, / filter, q and Escape leave.
. tests/integration/lib.sh
need_kvm
command -v tmux >/dev/null 2>&1 || skip "tmux is not installed (scripts/setup)"
start_agent

TM="tmux -L lvdumb$$.0 -f /dev/null" nview=0
trap 'rc=$?; $TM kill-server 2>/dev/null; cleanup $rc' EXIT
screen() { $TM capture-pane -p -t lv 2>/dev/null; }
# each view in a tmux server of its own: a new session on the socket of a
# server still exiting (its last session killed) fails with "server
# exited unexpectedly"
view() {
	$TM kill-server 2>/dev/null
	nview=$((nview + 1))
	TM="tmux -L lvdumb$$.$nview -f /dev/null"
	$TM new-session -d -s lv -x 60 -y 24 \
		"TERM=dumb $B/lvsh -S $SOCK --no-autostart -t; echo EXIT=\$?; sleep 60"
}

$LVSH -c "spawn 3 noop name=a-rather-long-name-that-would-wrap-at-sixty-columns" >/dev/null ||
	fail "spawn noop"
$LVSH -c "spawn 2 hello" >/dev/null || fail "spawn hello"

view
wait_for '^a-rather-lon +[0-9]+ running'
wait_for '^5 of 5 VMs: 3 running 2 shutoff - '
wait_for '^lvsh top - .* 5 VMs: 3 running 2 shutoff( |$)'
w=$(screen | awk '{ if (length($0) > m) m = length($0) } END { print m }')
[ "$w" -lt 60 ] || fail "lines of $w characters in a 60-column terminal"
ok "TERM=dumb: plain frames cut to 60 columns, both summaries say 3 running 2 shutoff"

$TM send-keys -t lv / "state:shutoff"
wait_for 'filter \(Enter applies, Escape drops\): state:shutoff$'
$TM send-keys -t lv Enter
wait_for "^filter 'state:shutoff' - 2 of 5 VMs: 2 shutoff - "
ok "TERM=dumb: / types a filter, Enter applies it"

$TM send-keys -t lv q
wait_for '^EXIT=0$' 5
ok "TERM=dumb: q leaves the view (exit 0)"

view
wait_for '^5 of 5 VMs'
$TM send-keys -t lv Escape
wait_for '^EXIT=0$' 5
ok "TERM=dumb: Escape leaves the view"

$LVSH -c "destroy all" >/dev/null || fail "destroy all"
agent_alive
