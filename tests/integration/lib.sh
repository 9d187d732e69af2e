# tests/integration/lib.sh - start a private lightvmd (own socket and
# state directory) and drive it with the real lvsh.  Sourced by t_*.sh.
set -u
ROOT=$(pwd)
B=${LV_BUILD:-$ROOT/build}   # LV_BUILD=build-asan: the agent under ASan/UBSan
T=$(mktemp -d /tmp/lvtest.XXXXXX)
SOCK=$T/lightvmd.sock
STATE=$T/state
RUN=$T/lightvmd.run   # the agent's run directory: SOCK minus .sock, plus .run
AGENT_PID=
LVSH="$B/lvsh -S $SOCK --no-autostart"

# Under emulation (the KVM testbed exports LV_TIME_SCALE) every time limit
# of a test stretches by this factor; what is checked stays the same.
TS=${LV_TIME_SCALE:-1}

# tsleep SECS: a pause that lets something happen (a guest end, a
# subscription register), stretched by TS
tsleep() { sleep "$(awk -v s="$1" -v t="$TS" 'BEGIN { print s * t }')"; }

# an agent built with ASan keeps freed memory in its quarantine: RSS says
# nothing about leaks there (LeakSanitizer and the unit runs do)
asan_agent() { nm "$B/lightvmd" 2>/dev/null | grep -q __asan_init; }

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; [ -f "$T/agent.log" ] && tail -n 30 "$T/agent.log"; exit 1; }
ok() { echo "ok: $*"; }

need_kvm() {
	[ -c /dev/kvm ] || skip "no /dev/kvm on this machine: real VMs cannot run here (scripts/test-kvm runs this test in the KVM testbed)"
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "no access to /dev/kvm (run as root)"
}

# The agent leaves VMs running when it stops; tests want them gone
# (--stop-vms), except where a test restarts the agent on purpose.
start_agent() {
	"$B/lightvmd" -S "$SOCK" -D "$STATE" -d --stop-vms "$@" >>"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	agent_answers
}

# Until the agent ($AGENT_PID) answers on $SOCK: the socket file exists
# from bind(), connections from listen().
agent_answers() {
	i=0
	until $LVSH -c host >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt $((300 * TS)) ] && fail "agent does not answer on its socket"
		kill -0 "$AGENT_PID" 2>/dev/null || fail "agent exited at start"
		sleep 0.05
	done
}

# A network namespace of this test's own ($NS; run commands in it with
# $IN), removed at exit after `destroy all` and the agent's stop.
need_netns() {  # PREFIX
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	command -v ip >/dev/null || skip "no ip (iproute2)"
	NS=$1$$
	ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace (root needed)"
	IN="ip netns exec $NS"
	trap 'rc=$?; $LVSH -c "destroy all" >/dev/null 2>&1; stop_agent; ip netns del $NS 2>/dev/null; cleanup $rc' EXIT
	$IN ip link set lo up
}

# The agent inside $NS (its bridge, taps and shells too), with extra
# lightvmd arguments; returns once it answers.
ns_agent() {
	$IN "$B/lightvmd" -S "$SOCK" -D "$STATE" -d "$@" >>"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	agent_answers
}

# a process's allowed CPUs, and its time slice in ns (empty where the
# kernel's /proc/PID/sched has no se.slice)
cpus() { awk '$1 == "Cpus_allowed_list:" { print $2 }' "/proc/$1/status"; }
slice() { awk '$1 == "se.slice" { print $3 }' "/proc/$1/sched" 2>/dev/null; }
factory_pid() { pgrep -P "$AGENT_PID" -x lightvm-factory | head -n1; }
shell_count() {
	f=$(factory_pid)
	[ -n "$f" ] && pgrep -P "$f" | wc -l || echo 0
}
agent_alive() { kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent died"; }
agent_fds() { ls /proc/"$AGENT_PID"/fd | wc -l; }

stop_agent() {
	[ -n "$AGENT_PID" ] || return 0
	kill "$AGENT_PID" 2>/dev/null
	i=0
	while kill -0 "$AGENT_PID" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt $((200 * TS)) ] && kill -9 "$AGENT_PID"; sleep 0.05
	done
	AGENT_PID=
}

# shells of this test's agents (each listens on $RUN/shells/PID.sock, or
# $STATE/shells/PID.sock: a fake one of t_hostile_shell, an older agent's)
test_shells() {
	for s in "$RUN"/shells/*.sock "$STATE"/shells/*.sock; do
		[ -e "$s" ] || continue
		p=$(basename "$s" .sock)
		[ "$(cat /proc/"$p"/comm 2>/dev/null)" = lightvm-shell ] && echo "$p"
	done
}
# cleanup [STATUS]: the test's exit status (default $?; a wrapper trap
# passes the status it saw first)
cleanup() {
	rc=${1:-$?}
	stop_agent
	for p in $(test_shells); do kill -9 "$p" 2>/dev/null; done
	# a sanitizer report from the agent or a shell fails the test
	if grep -E "runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer" "$T/agent.log" >/dev/null 2>&1; then
		echo "FAIL: sanitizer report in the agent log:"
		grep -E -A12 "runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer" "$T/agent.log" | head -n 40
		rc=1
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
trap 'exit 124' TERM   # tests/integration/run's timeout: clean up too

# wait_for REGEX [SECS]: until the test's screen() (a tmux pane) shows
# REGEX; fails after SECS (default 10) times TS
wait_for() {
	end=$(( $(date +%s) + ${2:-10} * TS ))
	while ! screen | grep -Eq -- "$1"; do
		if [ "$(date +%s)" -gt $end ]; then
			echo "--- screen:"; screen; fail "the screen never showed /$1/"
		fi
		sleep 0.02
	done
}

# console_log NAME: the path of NAME's console log, made sure to exist
# under that name (a new VM's log is named when the agent is idle, or
# when a client reads it: lvsh log)
console_log() {
	$LVSH -c "log $1" >/dev/null || fail "log $1"
	echo "$STATE/console/$1.log"
}

# count VMs in a state:  count_state STATE [SELECTOR]
count_state() { $LVSH --json -c "list ${2:-}" | jq "[.vms[] | select(.state == \"$1\")] | length"; }
