# Console input on Xen: lvsh console writes into the PV console ring's in
# side (served by the agent, no xenconsoled); the echo guest reads it and
# answers on its output ring, which lands in the console log.
. tests/xen/lib.sh
need_dom0
start_agent "pool 4M/1 = 2"
$LVSH -c "spawn 1 echo" >/dev/null || fail "spawn 1 echo"
wait_state running echo-1 1 || fail "echo-1 not running: $($LVSH -c 'inspect echo-1')"
printf 'ping-42\r' | $LVSH -c "console echo-1" >"$T/att" 2>&1 || fail "console: $(cat "$T/att")"
i=0
until $LVSH -c "log echo-1" | grep -qx "ping-42"; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "echo-1 did not echo: $($LVSH -c 'log echo-1')"; sleep 0.1
done
grep -q "ping-42" "$T/att" || fail "the echo did not reach the attached console: $(cat "$T/att")"
ok "console input through the PV console ring: echoed to the log and the attached terminal"
$LVSH -c "shutdown echo-1" >/dev/null || fail "shutdown"
wait_state shutoff echo-1 1 || fail "echo-1 did not shut off"
ok "echo-1 powered off on request"
