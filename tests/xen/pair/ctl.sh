#!/bin/sh
# tests/xen/pair/ctl.sh - the destination testbed's control port (run by
# `nc -ll -e` in migrate.sh's role b, one connection per request): one
# line in, one line out.  The source asks what is where; it never gets a
# shell: only these words, and names and addresses are checked.
read -r cmd arg rest || exit 0
name_ok() { case $1 in ''|*[!A-Za-z0-9._-]*) return 1;; esac; }
ip_ok() { case $1 in ''|*[!0-9.]*) return 1;; esac; }
case $cmd in
ping) echo pong;;
state)
	name_ok "$arg" || { echo bad; exit 0; }
	if ! $LVSH -c list >/dev/null 2>&1; then echo down; exit 0; fi
	s=$($LVSH --json -c "inspect $arg" 2>/dev/null | jq -r '.vms[0].state // empty' 2>/dev/null)
	echo "${s:-none}";;
day)
	ip_ok "$arg" || { echo bad; exit 0; }
	if lv-daytime -d 5 -t 20 "$arg" >/dev/null 2>&1; then echo ok; else echo fail; fi;;
done)
	echo "$cmd" >"$T/ctl.cmd.tmp" && mv "$T/ctl.cmd.tmp" "$T/ctl.cmd" && echo ok;;
arm-kill)   # ok once the watcher has it: the migration may start then
	rm -f "$T/armed"
	echo "$cmd" >"$T/ctl.cmd.tmp" && mv "$T/ctl.cmd.tmp" "$T/ctl.cmd" || { echo fail; exit 0; }
	i=0
	while [ ! -e "$T/armed" ] && [ $i -lt 150 ]; do sleep 0.05; i=$((i + 1)); done
	[ -e "$T/armed" ] && echo ok || echo late;;
*) echo "unknown";;
esac
