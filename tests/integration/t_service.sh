# t_service.sh - lightvmd as a service: the Prometheus metrics (scraped
# with curl, parsed by Debian's python3-prometheus-client, HELP and TYPE
# for every family, numbers that match the VMs, the bounds: 404, 405,
# 431, a connection cap, and its CPU cost at LV_METRICS_VMS VMs, default
# 300; LV_METRICS_VMS=10000 is the issue's check, ~10 GB and a minute:
# 13 ms of agent CPU for 3.3 MB, measured), the same on a UNIX socket, the readiness notification
# (NOTIFY_SOCKET, tests/tools/lv-sdnotify), socket activation
# (systemd-socket-activate hands the control socket over) and the units
# (systemd-analyze verify).
. tests/integration/lib.sh
need_kvm
command -v curl >/dev/null 2>&1 || skip "curl is not installed (scripts/setup)"
PY=/usr/bin/python3
$PY -c 'import prometheus_client.parser' 2>/dev/null ||
	skip "python3-prometheus-client is not installed (scripts/setup)"
N=${LV_METRICS_VMS:-300}
PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT/metrics
case $B in /*) BIN=$B;; *) BIN=$ROOT/$B;; esac

# ---- readiness: READY=1 with our pid, once the socket listens; then
# WATCHDOG=1 at half of $WATCHDOG_USEC (WatchdogSec=)
"$B/tests/lv-sdnotify" "$T/notify" 20 WATCHDOG=1 >"$T/notify.out" 2>&1 &
NP=$!
i=0; while [ ! -S "$T/notify" ]; do i=$((i + 1)); [ $i -gt 100 ] && fail "no notify socket"; sleep 0.02; done
export NOTIFY_SOCKET="$T/notify" WATCHDOG_USEC=1000000
start_agent --metrics "127.0.0.1:$PORT"
unset NOTIFY_SOCKET WATCHDOG_USEC
wait $NP || fail "no WATCHDOG=1: $(cat "$T/notify.out")"
[ "$(head -n 2 "$T/notify.out" | tr '\n' ' ')" = "READY=1 MAINPID=$AGENT_PID " ] ||
	fail "not READY=1 and MAINPID=$AGENT_PID first: $(cat "$T/notify.out")"
ok "Type=notify: READY=1 and MAINPID=$AGENT_PID on \$NOTIFY_SOCKET once the socket listens, then WATCHDOG=1"

# ---- metrics: format, HELP/TYPE, values
$LVSH -c "spawn $N noop" >/dev/null || fail "spawn $N noop"
$LVSH -c "spawn 2 hello" >/dev/null || fail "spawn 2 hello"
curl -sS -D "$T/h" -o "$T/m1" "$URL" || fail "scrape $URL"
curl -sS -o "$T/m" "$URL" || fail "scrape $URL"
grep -q '^HTTP/1.[01] 200' "$T/h" || fail "status: $(head -n1 "$T/h")"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/h" || fail "content type: $(cat "$T/h")"
$PY - "$T/m" "$N" <<'EOF' || fail "the metrics do not parse or do not add up (above)"
import re, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
n = int(sys.argv[2])
helps = re.findall(r'^# HELP (\S+) ', text, re.M)
types = dict(re.findall(r'^# TYPE (\S+) (\S+)$', text, re.M))
fams = {f.name: f for f in text_string_to_metric_families(text)}
def bad(msg):
    print(msg); sys.exit(1)
for name, t in types.items():
    base = name[:-6] if t == 'counter' and name.endswith('_total') else name
    if name not in helps: bad('no HELP for ' + name)
    if base not in fams: bad('family %s not parsed' % name)
if len(helps) != len(types): bad('HELP and TYPE lines differ')
if len(fams) < 30: bad('only %d families' % len(fams))
def samples(fam, **labels):
    return [s for s in fams[fam].samples if all(s.labels.get(k) == v for k, v in labels.items())]
running = samples('lightvm_vms', state='running')[0].value
if running != n: bad('lightvm_vms{state="running"} = %s, not %d' % (running, n))
if samples('lightvm_vms', state='shutoff')[0].value != 2: bad('2 hello VMs not shutoff')
st = samples('lightvm_vm_state')
if len(st) != n + 2: bad('%d lightvm_vm_state samples for %d VMs' % (len(st), n + 2))
if len([s for s in st if s.labels['state'] == 'running' and s.labels['image'] == 'noop']) != n:
    bad('lightvm_vm_state does not list the noop VMs as running')
h = fams['lightvm_spawn_latency_seconds']
if h.type != 'histogram': bad('spawn latency is not a histogram')
b = [s for s in h.samples if s.name.endswith('_bucket')]
if [s.value for s in b] != sorted(s.value for s in b): bad('buckets not cumulative')
cnt = [s.value for s in h.samples if s.name.endswith('_count')][0]
if cnt != n + 2 or b[-1].labels['le'] != '+Inf' or b[-1].value != cnt: bad('histogram count %s' % cnt)
# the parser names a counter's family without its _total
if len(samples('lightvm_vm_cpu_seconds')) != n + 2: bad('cpu samples')
if fams['lightvm_vm_cpu_seconds'].type != 'counter': bad('cpu is not a counter')
print('families %d, samples %d' % (len(fams), sum(len(f.samples) for f in fams.values())))
EOF
cost=$(sed -n 's/^lightvm_metrics_render_seconds //p' "$T/m")
bytes=$(wc -c <"$T/m")
awk -v c="$cost" 'BEGIN { exit !(c < 0.1) }' || fail "a scrape at $N VMs took ${cost}s of agent CPU"
ok "metrics at $((N + 2)) VMs: HTTP 200, text format 0.0.4, parsed by prometheus_client, HELP+TYPE everywhere, counts match; $bytes bytes, ${cost}s of agent CPU to make"

# ---- lvsh stats --prometheus: the same families, help and type lines
$LVSH -c "stats --prometheus" >"$T/p" || fail "lvsh stats --prometheus"
grep '^# ' "$T/p" | sort >"$T/p.meta"
grep '^# ' "$T/m" | sort >"$T/m.meta"
[ "$(wc -l <"$T/p.meta")" -ge 40 ] || fail "lvsh stats --prometheus: $(head -c 300 "$T/p")"
comm -3 "$T/p.meta" "$T/m.meta" | grep . && fail "lvsh and the agent print different families (above: < lvsh only, > agent only)"
$PY - "$T/p" "$N" <<'EOF' || fail "lvsh stats --prometheus does not parse or add up (above)"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
st = [s for s in fams['lightvm_vm_state'].samples if s.labels['state'] == 'running']
if len(st) != int(sys.argv[2]): print('%d running in lightvm_vm_state' % len(st)); sys.exit(1)
ready = [s for s in fams['lightvm_events'].samples if s.labels['event'] == 'ready']
if not ready or ready[0].value < int(sys.argv[2]): print('events: %s' % ready); sys.exit(1)
cnt = [s for s in fams['lightvm_spawn_latency_seconds'].samples if s.name.endswith('_count')]
if not cnt or cnt[0].value < int(sys.argv[2]): print('histogram count: %s' % cnt); sys.exit(1)
if fams['lightvm_agent_cpu_seconds'].samples[0].value <= 0: print('agent cpu 0'); sys.exit(1)
EOF
$LVSH -c "stats nosuch" >/dev/null 2>&1; [ $? = 1 ] || fail "stats of a VM that does not exist: not status 1"
ok "lvsh stats --prometheus: parsed, the agent's $(grep -c '^# TYPE' "$T/p") families with their HELP and TYPE lines (its CPU, events, spawn histogram too)"

# ---- NIC counters and drops, in a network namespace of its own (the
# bridge and the taps stay in it): netflood's policed frames are drops
if command -v unshare >/dev/null 2>&1; then
	BIN=$BIN T=$T unshare -n bash -c '
		ip link set lo up
		"$BIN/lightvmd" -S "$T/n.sock" -D "$T/nstate" --stop-vms --metrics "$T/nm.sock" >>"$T/nagent.log" 2>&1 &
		a=$!
		i=0; while [ ! -S "$T/nm.sock" ]; do i=$((i + 1)); [ $i -gt 100 ] && exit 1; sleep 0.05; done
		"$BIN/lvsh" -S "$T/n.sock" --no-autostart -c "spawn 1 netflood" >/dev/null || exit 1
		ip=$("$BIN/lvsh" -S "$T/n.sock" --no-autostart --json -c "list" | jq -r ".vms[0].ipv4")
		# netflood posts no receive buffers: its tap queue fills, the rest is dropped
		i=0; while [ $i -lt 2000 ]; do echo x >/dev/udp/$ip/9 2>/dev/null; i=$((i + 1)); done
		sleep 1.2
		curl -s --unix-socket "$T/nm.sock" -o "$T/nm" http://lightvm/metrics
		"$BIN/lvsh" -S "$T/n.sock" --no-autostart -c "destroy all" >/dev/null
		kill $a; wait $a' || fail "the netflood agent (own netns): $(tail -n 5 "$T/nagent.log")"
	d=$(sed -n 's/^lightvm_vm_network_transmit_drops_total{name="netflood-1"} //p' "$T/nm")
	[ "${d:-0}" -gt 1000 ] || fail "netflood-1 transmit drops: '$d'"
	r=$(sed -n 's/^lightvm_vm_network_receive_drops_total{name="netflood-1"} //p' "$T/nm")
	[ "${r:-0}" -gt 500 ] || fail "netflood-1 receive drops after 2000 frames to a guest that takes none: '$r'"
	ok "NIC series for a VM with a NIC: netflood-1 transmit drops $d (policed), receive drops $r (its tap queue full)"
fi

# ---- bounds
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "http://127.0.0.1:$PORT/")" = 404 ] || fail "/ is not 404"
[ "$(code -X POST "$URL")" = 405 ] || fail "POST is not 405"
[ "$(code -I "$URL")" = 200 ] || fail "HEAD is not 200"
[ "$(code -H "X-Big: $(head -c 5000 /dev/zero | tr '\0' a)" "$URL")" = 431 ] || fail "a 5 KB head is not 431"
idle=
for k in 1 2 3 4 5 6 7 8; do
	nc -d 127.0.0.1 "$PORT" >/dev/null 2>&1 &
	idle="$idle $!"
done
sleep 0.5
curl -s -m 5 -o /dev/null "$URL" && fail "a 9th client was served while 8 idle ones held every slot"
for p in $idle; do kill "$p" 2>/dev/null; done
sleep 0.3
curl -sS -o "$T/m" "$URL" || fail "no scrape after the idle clients left"
refused=$(sed -n 's/^lightvm_metrics_refused_total //p' "$T/m")
[ "$refused" -ge 2 ] || fail "refused_total $refused"
agent_alive
ok "bounds: / 404, POST 405, HEAD 200, a 5 KB request head 431, 8 clients at most (the 9th closed; refused_total $refused)"

# ---- the same on a UNIX socket, after a restart
$LVSH -c "destroy all" >/dev/null || fail "destroy all"
stop_agent
start_agent --metrics "$T/metrics.sock"
mode=$(stat -c %a "$T/metrics.sock")
[ "$mode" = 600 ] || [ "$mode" = 660 ] || fail "metrics socket mode $mode"
curl -sS --unix-socket "$T/metrics.sock" -o "$T/m" http://lightvm/metrics || fail "scrape over the UNIX socket"
grep -q '^lightvm_vms{state="running"} 0$' "$T/m" || fail "UNIX socket scrape: $(head -c 300 "$T/m")"
stop_agent
[ -e "$T/metrics.sock" ] && fail "metrics socket left after stop"
ok "metrics on a UNIX socket (mode $mode), removed at stop"

# ---- socket activation: the control socket from systemd
command -v systemd-socket-activate >/dev/null 2>&1 || skip "systemd-socket-activate missing (package systemd)"
SA=$T/sa.sock
systemd-socket-activate -l "$SA" "$B/lightvmd" -S "$T/unused.sock" -D "$STATE" -d --stop-vms \
	>>"$T/agent.log" 2>&1 &
AGENT_PID=$!
i=0; while [ ! -S "$SA" ]; do i=$((i + 1)); [ $i -gt 100 ] && fail "no activation socket"; sleep 0.05; done
$B/lvsh -S "$SA" --no-autostart -c "spawn 2 noop" >/dev/null || fail "spawn over the passed socket"
grep -q "listening on $SA (from systemd)" "$T/agent.log" || fail "the agent did not take the passed socket"
[ -e "$T/unused.sock" ] && fail "the agent also made its own socket"
$B/lvsh -S "$SA" --no-autostart -c "destroy all" >/dev/null || fail "destroy all"
stop_agent
[ -S "$SA" ] || fail "the agent removed systemd's socket file"
ok "socket activation: LISTEN_FDS socket served (and left in place at stop), no socket of its own"

# ---- the units
command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze missing"
mkdir -p "$T/units"
sed "s|/usr/sbin/lightvmd|$BIN/lightvmd|" packaging/systemd/lightvmd.service >"$T/units/lightvmd.service"
cp packaging/systemd/lightvmd.socket "$T/units/"
systemd-analyze verify --man=no "$T/units/lightvmd.socket" "$T/units/lightvmd.service" >"$T/verify" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$T/verify")"
[ -s "$T/verify" ] && fail "systemd-analyze verify: $(cat "$T/verify")"
ok "systemd-analyze verify: lightvmd.service and lightvmd.socket clean"
