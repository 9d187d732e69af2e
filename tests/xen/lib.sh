# tests/xen/lib.sh - run inside the testbed's Dom0 (scripts/xen-testbed):
# a private lightvmd on the Xen driver, driven with the real lvsh.
# Sourced by t_*.sh; paths are those of the testbed (/lv = the tree).
set -u
B=/lv/build
T=$(mktemp -d /tmp/lvxen.XXXXXX)
SOCK=$T/lightvmd.sock
STATE=$T/state
AGENT_PID=
LVSH="$B/lvsh -S $SOCK --no-autostart"
export ASAN_OPTIONS=detect_leaks=0   # for a build-asan run (LV_BUILD)

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; [ -f "$T/agent.log" ] && tail -n 30 "$T/agent.log"; exit 1; }
ok() { echo "ok: $*"; }

need_dom0() {
	grep -q control_d /proc/xen/capabilities 2>/dev/null || skip "not a Xen Dom0"
	command -v jq >/dev/null || skip "no jq in Dom0"
}

# start_agent [CONFIG-LINES]: pools and such, one per line
start_agent() {
	# everything here is emulated (QEMU TCG), and slower still under
	# ASan or a busy host: the boot limit is the testbed's, not a claim
	printf '%s\nboot-timeout = 60000\n' "${1:-pool 4M/1 = 8}" >"$T/lightvmd.conf"
	"$B/lightvmd" -f "$T/lightvmd.conf" -S "$SOCK" -D "$STATE" \
		--driver xen -d >"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	i=0
	while [ ! -S "$SOCK" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "agent did not start"
		kill -0 "$AGENT_PID" 2>/dev/null || fail "agent exited at start"
		sleep 0.1
	done
}

stop_agent() {
	[ -n "$AGENT_PID" ] || return 0
	kill "$AGENT_PID" 2>/dev/null
	i=0
	while kill -0 "$AGENT_PID" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 100 ] && kill -9 "$AGENT_PID"; sleep 0.1
	done
	AGENT_PID=
}

# kill_restart_agent [CONFIG-LINES]: kill -9 the agent, start a new one
# on the same state, and wait until no restored VM is prepared or booting
kill_restart_agent() {
	kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
	rm -f "$SOCK"
	start_agent "${1:-}"
	i=0
	while $LVSH --json -c list | jq -r '.vms[].state' | grep -Eq 'prepared|booting'; do
		i=$((i + 1)); [ $i -gt 50 ] && fail "VMs stuck after the restart: $($LVSH -c list | head -n 5)"; sleep 0.1
	done
}

# destroy every VM and empty the pool: only Domain-0 may be left, and no
# domain file of ours
destroy_all_empty() {
	$LVSH -c "destroy all" >/dev/null || fail "destroy all"
	$LVSH -c "pool set 4M/1 0" >/dev/null || fail "pool set 0"
	sleep 0.5
	[ "$(xen_domains)" = 1 ] || fail "domains left: $(xl list)"
	! ls "$STATE/xen" | grep -q . || fail "domain files left: $(ls "$STATE/xen" | head)"
}

cleanup() { stop_agent; rm -rf "$T"; }
trap cleanup EXIT

# count VMs in a state:  count_state STATE [SELECTOR]
count_state() { $LVSH --json -c "list ${2:-}" | jq "[.vms[] | select(.state == \"$1\")] | length"; }
# wait_state STATE SELECTOR N [TENTHS]: until N VMs of SELECTOR are in STATE
wait_state() {
	i=0
	while [ "$(count_state "$1" "$2")" != "$3" ]; do
		i=$((i + 1)); [ $i -gt "${4:-100}" ] && return 1; sleep 0.1
	done
}
# domains Xen has, Domain-0 included
xen_domains() { xl list | tail -n +2 | wc -l; }
