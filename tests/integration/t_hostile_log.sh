# What guests and clients write never reaches a terminal or the agent's
# log as control sequences: `lvsh log` shows a guest's escape sequences
# as text (^[), and a client's newline cannot forge a line of the agent
# log (the agent runs with -d, which logs a subscription's selector).
. tests/integration/lib.sh
need_kvm
start_agent
$LVSH -c "spawn 1 noop name=esc" >/dev/null || fail "spawn"
printf 'before\033]0;pwned\007\033[2J\rX\r\nafter\233x\302\233y\303\251\n' >>"$(console_log esc-1)"
$LVSH -c "log esc-1" >"$T/out" || fail "log"
tr -d '\n\t\040-\176' <"$T/out" | LC_ALL=C grep -q "$(printf '[\001-\037\177]')" &&
	fail "control bytes reached the terminal: $(od -c "$T/out" | head -5)"
grep -q 'before^\[\]0;pwned^G^\[\[2J^MX$' "$T/out" || fail "escapes not shown as text: $(cat -v "$T/out")"
grep -q 'after\\x9bx\\xc2\\x9by' "$T/out" || fail "C1 controls not shown: $(cat -v "$T/out")"
grep -q "$(printf 'y\303\251')" "$T/out" || fail "UTF-8 text lost: $(cat -v "$T/out")"
ok "lvsh log: guest escape sequences shown as text, UTF-8 kept"

$B/tests/lv-hostile "$SOCK" sub-sel "$(printf 'x\n2026-01-01T00:00:00.000Z lightvmd error: FORGED')" >/dev/null
tsleep 0.2
grep -q "^2026-01-01T00:00:00.000Z lightvmd error: FORGED" "$T/agent.log" && fail "a client forged a log line"
grep -q 'selector x\\n2026-01-01' "$T/agent.log" || fail "the selector was not logged escaped: $(grep subscribe "$T/agent.log" | tail -2)"
ok "a newline in client input is logged escaped: no forged line"

# a guest that writes without end: its console log stops at the cap
$LVSH -c "spawn 1 chatty" >/dev/null || fail "spawn chatty"
tsleep 2
size=$(stat -c %s "$STATE/console/chatty-1.log")
[ "$size" -le 1048576 ] || fail "chatty's console log at $size bytes, above the 1 MiB cap"
$LVSH -c "destroy chatty-1" >/dev/null || fail "destroy chatty"
agent_alive
ok "a chatty guest's console log stops at 1 MiB ($size bytes)"
