# scripts/testbed-lib.sh - what the two QEMU/TCG testbeds share
# (scripts/xen-testbed, scripts/kvm-testbed): fetching Debian packages
# into a cache without installing them, a lock around the cache, and
# turning QEMU's isa-debug-exit code and the serial log into the status
# of the command that ran inside.  Sourced (bash); the caller sets
# CACHE, NAME (for messages) and defines nothing else these use.

die() { echo "$NAME: $*" >&2; exit 125; }
say() { echo "$NAME: $*" >&2; }

# The kernel package linux-image-amd64 points to (e.g. linux-image-6.1.0-28-amd64).
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# fetch_debs DIR PKG...: `apt-get download` PKG... and the kernel into
# DIR, once per kernel version (DIR/.done holds it).
fetch_debs() {
	local dir=$1 kpkg; shift
	mkdir -p "$dir"
	# a fresh machine may have no package lists yet
	apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt-get update -qq >&2 || true
	kpkg=$(kernel_pkg)
	[ -n "$kpkg" ] || die "cannot find the kernel package (apt-cache depends linux-image-amd64)"
	if [ -f "$dir/.done" ] && [ "$(cat "$dir/.done")" = "$kpkg" ]; then
		return 0
	fi
	say "downloading $kpkg and $* into $dir"
	rm -f "$dir"/*.deb
	(cd "$dir" && apt-get download "$@" "$kpkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) ||
		die "apt-get download failed (no network or no apt sources?)"
	ls "$dir"/linux-image-*.deb >/dev/null 2>&1 || die "the kernel package was not downloaded"
	echo "$kpkg" >"$dir/.done"
}

# Runs may overlap (CI, benchmarks, a developer): the cache is built and
# copied under a lock, so no run reads it half rebuilt.
locked() { mkdir -p "$CACHE"; { flock 9; "$@"; } 9>>"$CACHE/.lock"; }

# keep_log LOG DEST: copy the serial log where the user finds it
keep_log() {
	cp "$1" "$2.tmp.$$" && mv "$2.tmp.$$" "$2"
}

# run_status RC LOG: the command's exit status from QEMU's exit code RC
# and the @@LVTB-EXIT@@ line of LOG; exits 124 on timeout, 125 if the
# machine died before the command reported.
run_status() {
	local rc=$1 log=$2 status
	status=$(sed -n 's/^@@LVTB-EXIT@@ \([0-9]*\).*/\1/p' "$log" | tail -n1)
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		say "TIMEOUT"
		exit 124
	fi
	if [ $((rc & 1)) = 1 ] && [ "$rc" -ge 3 ]; then
		rc=$(( (rc - 1) / 2 - 1 ))
	elif [ -n "$status" ]; then
		rc=$status
	else
		say "QEMU exited ($rc) before the command reported a status"
		exit 125
	fi
	grep -q '^@@LVTB-SETUP-FAILED@@' "$log" && say "set-up failed: $(grep '^@@LVTB-SETUP-FAILED@@' "$log")"
	exit "$rc"
}
