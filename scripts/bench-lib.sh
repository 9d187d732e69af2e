# scripts/bench-lib.sh - what every benchmark script does with the
# platform it measured on: print it beside the results, and keep an
# emulated run (QEMU TCG: the testbeds) from replacing what the README
# shows unless told to (LV_BENCH_EMULATED=1), labelled as such.  Sourced.

# bench_platform "LVSH ARGS": the agent's platform into PLATFORM, printed
bench_platform() {
	PLATFORM=$($1 --json -c host | jq -r '.platform // .driver')
	echo "platform: $PLATFORM"
	if bench_emulated; then
		echo "*** emulated platform: the times below are not performance numbers ***"
	fi
}

bench_emulated() {
	case ${PLATFORM:-} in *emulated*) return 0;; esac
	return 1
}

# bench_label: "" or " [emulated: PLATFORM]", for titles and tables
bench_label() {
	bench_emulated && echo " [emulated: $PLATFORM]" || true
}

# bench_publish PATH: may this run write PATH (a file the README shows)?
# No for an emulated run unless LV_BENCH_EMULATED=1.
bench_publish() {
	bench_emulated || return 0
	[ "${LV_BENCH_EMULATED:-0}" = 1 ] && return 0
	echo "emulated run: $1 (shown in the README) is left alone; LV_BENCH_EMULATED=1 writes it, labelled emulated"
	return 1
}

# bench_pct KIND CSV P: the P-th percentile (nearest rank) of column 3
# of CSV's KIND rows (ns, as lv-bench writes them), in µs with one decimal
bench_pct() {
	grep "^$1," "$2" | cut -d, -f3 | sort -n |
		awk -v p="$3" '{ a[NR] = $1 } END { i = int(NR * p / 100 + 0.5); if (i < 1) i = 1; printf "%.1f", a[i] / 1000 }'
}
