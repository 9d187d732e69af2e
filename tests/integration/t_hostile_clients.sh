# Clients that try to make the agent pay (tests/tools/lv-hostile): a
# client that never reads its replies is no longer read (back-pressure,
# bounded memory); a read-only client's large body is refused at the
# header, before any allocation; a body of unknown fields is refused
# before protobuf unpacks it; a partial frame times out; connections per
# uid, console attaches, waits and subscriptions per connection are
# capped (lightvmd.conf); idle connections are closed; at the fd limit
# accept backs off instead of spinning.  Admins keep being served.
. tests/integration/lib.sh
need_kvm
command -v useradd >/dev/null && command -v runuser >/dev/null || skip "useradd/runuser missing"
command -v prlimit >/dev/null || skip "prlimit missing"
U=lvh$$
GR=lvhr$$
h_cleanup() { rc=$?; userdel "$U" 2>/dev/null; groupdel "$GR" 2>/dev/null; cleanup $rc; }
trap h_cleanup EXIT
groupadd "$GR" && useradd -M -N -g "$GR" -s /bin/sh "$U" || fail "cannot create the test user"
chmod 755 "$T"
HOST=$B/tests/lv-hostile
UH="runuser -u $U -- $HOST $SOCK"
runuser -u "$U" -- test -x "$HOST" || skip "$HOST is not reachable by an unprivileged user"
cat >"$T/agent.conf" <<CONF
group = $GR
pool 4M/1 = 0
read-timeout = 500
idle-timeout = 3
max-connections-per-uid = 20
max-attaches = 4
max-waits = 4
max-subscriptions = 3
max-waits-per-uid = 6
CONF
start_agent -f "$T/agent.conf"
rss() { awk '/VmRSS/ {print int($2 / 1024)}' /proc/"$AGENT_PID"/status; }
cpu_ticks() { awk '{print $14 + $15}' /proc/"$AGENT_PID"/stat; }
ms() { date +%s%3N; }

$LVSH -c "spawn 1 noop name=bp" >/dev/null || fail "spawn"
head -c 700000 /dev/urandom | base64 -w 100 >>"$(console_log bp-1)"

# ---- replies nobody reads
rss0=$(rss)
$UH flood-log bp-1 300 4 >"$T/flood" &
FL=$!
sleep 2.5
rss1=$(rss)
[ $((rss1 - rss0)) -lt 40 ] || fail "300 unread log replies: agent RSS $rss0 -> $rss1 MB"
t0=$(ms); $LVSH -c host >/dev/null || fail "host during the flood"; t1=$(ms)
[ $((t1 - t0)) -lt $((1000 * TS)) ] || fail "host took $((t1 - t0)) ms during the flood"
kill $FL 2>/dev/null; wait $FL 2>/dev/null
ok "300 unread log replies: RSS $rss0 -> $rss1 MB (back-pressure), host answered in $((t1 - t0)) ms"

# ---- sizes before allocation, operations before unpacking
out=$(timeout $((5 * TS)) $UH big 16000000) || fail "read-only 16 MB header: no answer (the agent waits for the body)"
echo "$out" | grep -q "^reply err=90 " || fail "read-only 16 MB header: $out"
grep -q "exceeds this client's limit of 65536 bytes (max-request-read)" "$T/agent.log" || fail "no limit in the log"
c0=$(cpu_ticks)
for i in 1 2 3; do
	out=$(timeout $((10 * TS)) $HOST "$SOCK" unknown 16000000) || fail "16 MB of unknown fields: no answer"
	echo "$out" | grep -q "err=74\|closed" || fail "16 MB of unknown fields: $out"
done
c1=$(cpu_ticks)
[ $((c1 - c0)) -lt $((150 * TS)) ] || fail "3 bodies of 16 MB of unknown fields cost $((c1 - c0)) ticks of agent CPU"
ok "a read-only 16 MB request is refused at its header; unknown fields are refused unparsed ($((c1 - c0)) ticks for 48 MB)"

# ---- a frame that never completes
out=$(timeout $((5 * TS)) $UH partial) || fail "partial frame: still open after 5 s"
n=$(echo "$out" | awk '{print $3}')
[ "$n" -lt $((2000 * TS)) ] || fail "partial frame closed after $n ms (read-timeout 500)"
ok "a partial frame is dropped after $n ms"

# ---- connections per uid, and admins still served
$UH conns 200 2 >"$T/conns" &
CN=$!
sleep 1
t0=$(ms); $LVSH -c "spawn 10 noop name=adm" >/dev/null || fail "admin spawn under 200 connections"; t1=$(ms)
[ $((t1 - t0)) -lt $((1000 * TS)) ] || fail "admin spawn 10 took $((t1 - t0)) ms"
wait $CN
[ "$(cat "$T/conns")" = "open 20" ] || fail "200 connections from one uid: $(cat "$T/conns") kept (max 20)"
ok "one uid keeps 20 of 200 connections; admin spawn 10 in $((t1 - t0)) ms"

# ---- per-connection budgets
out=$($UH attach bp-1 10); [ "$out" = "ok 4 err 105" ] || fail "10 attaches: $out"
out=$($UH wait bp-1 10); [ "$out" = "ok 4 err 105" ] || fail "10 waits: $out"
out=$($UH sub 10); [ "$out" = "ok 3 err 105" ] || fail "10 subscriptions: $out"
$UH wait bp-1 4 $((3 * TS)) >"$T/w1" &
W1=$!
tsleep 1
out=$($UH wait bp-1 10); [ "$out" = "ok 2 err 105" ] || fail "waits past the per-uid cap: $out (first connection: $(cat "$T/w1"))"
wait $W1
ok "attaches, waits and subscriptions capped per connection and per uid (ENOBUFS)"

# ---- a client repeating what gets logged cannot fill the log
n0=$(grep -c "access: denied spawn" "$T/agent.log")
out=$($UH spawn 300); [ "$out" = "ok 0 err 13" ] || fail "300 denied spawns: $out"
n1=$(grep -c "access: denied spawn" "$T/agent.log")
[ $((n1 - n0)) -le 20 ] || fail "300 denied spawns logged $((n1 - n0)) lines"
ok "300 denied requests: $((n1 - n0)) log lines"

# ---- idle connections
out=$($HOST "$SOCK" conns 5 5)
[ "$out" = "open 0" ] || fail "idle connections after idle-timeout: $out"
ok "idle connections closed after idle-timeout"

# ---- the fd limit: accept backs off
prlimit --pid "$AGENT_PID" --nofile=100:100 || fail "prlimit"
c0=$(cpu_ticks)
n0=$(grep -c "not accepting" "$T/agent.log")
$HOST "$SOCK" conns 300 3 >"$T/conns" &
CN=$!
sleep 0.5
c0=$(cpu_ticks)
sleep 2
c1=$(cpu_ticks)
wait $CN
n1=$(grep -c "not accepting" "$T/agent.log")
[ $((c1 - c0)) -lt $((60 * TS)) ] || fail "at the fd limit the agent used $((c1 - c0)) ticks in 2 s"
[ $((n1 - n0)) -le 3 ] || fail "at the fd limit: $((n1 - n0)) log lines"
prlimit --pid "$AGENT_PID" --nofile=65536:65536
$LVSH -c host >/dev/null || fail "host after the fd limit"
ok "at the fd limit: $((c1 - c0)) ticks in 2 s, $((n1 - n0)) log lines; served again after"
agent_alive

# ---- 1,000 idle read-only connections and two clients flooding 16 MB
# requests (read-only: refused at the header; admin: refused unparsed):
# an admin's spawn 10 completes within 1 s and the agent stays small
stop_agent
sed -i 's/^max-connections-per-uid = .*/max-connections-per-uid = 2000/; s/^idle-timeout = .*/idle-timeout = 600/' "$T/agent.conf"
start_agent -f "$T/agent.conf"
$UH conns 1000 8 >"$T/conns" &
CN=$!
sleep 2
(while :; do $UH big 16000000 >/dev/null; done) &
F1=$!
(while :; do $HOST "$SOCK" unknown 16000000 >/dev/null; done) &
F2=$!
sleep 1
t0=$(ms); $LVSH -c "spawn 10 noop name=busy" >/dev/null || fail "admin spawn under load"; t1=$(ms)
r=$(rss)
kill $F1 $F2 2>/dev/null; wait $F1 $F2 2>/dev/null
wait $CN
[ $((t1 - t0)) -lt $((1000 * TS)) ] || fail "admin spawn 10 took $((t1 - t0)) ms under load"
[ "$r" -lt 100 ] || fail "agent RSS $r MB under load"
[ "$(cat "$T/conns")" = "open 1000" ] || fail "idle connections: $(cat "$T/conns")"
ok "1000 idle read-only connections + 16 MB floods: admin spawn 10 in $((t1 - t0)) ms, agent RSS $r MB"
agent_alive
