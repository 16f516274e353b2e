#!/bin/sh
# Runs the user-space KTAP suites on the host Linux, the reference for Exo's ABI.
#
# Usage: sh user/run-host-tests.sh build/user/tests/user_a build/user/tests/user_b ...
#
# Builds a temporary root laid out like the initrd (user/rootfs/ as-is,
# /bin/busybox with its applet symlinks, /tests/ with the suites), mounts it
# read-only in a private mount namespace when unshare(1) allows (so the EROFS
# cases run), and runs each suite with EXO_ROOT pointing at it. SEED is passed
# through. Exits 1 if any suite fails or prints no "# Totals:" line.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d "${TMPDIR:-/tmp}/exo-root.XXXXXX")
root=$(cd "$root" && pwd -P)
trap 'rm -rf "$root"' EXIT

cp -a "$here/rootfs/." "$root/"
mkdir -p "$root/bin" "$root/tests"
busybox=$(command -v busybox || echo /bin/busybox)
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
for suite in "$@"; do
	cp "$suite" "$root/tests/"
done

# The suites run inside `sh -c`, after the read-only bind mount when possible.
runner='
root=$1; shift
if [ "${EXO_RO:-0}" = 1 ]; then
	mount --bind "$root" "$root" && mount -o remount,bind,ro "$root" "$root" ||
		echo "# note: read-only bind mount failed; EROFS cases will skip"
fi
failed=0
for suite in "$@"; do
	name=$(basename "$suite")
	out=$(cd / && EXO_ROOT="$root" "$root/tests/$name" 2>&1)
	rc=$?
	printf "%s\n" "$out" | sed "s/^/$name: /"
	totals=$(printf "%s\n" "$out" | grep "^# Totals:")
	if [ $rc -ne 0 ] || [ -z "$totals" ]; then
		echo "FAILED: $name (exit $rc)"
		failed=1
	fi
	echo "$name: ${totals:-no Totals line}" >> "$root.summary"
done
exit $failed
'
rm -f "$root.summary"
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	EXO_RO=1 unshare -m sh -c "$runner" sh "$root" "$@"
elif unshare -rm true 2>/dev/null; then
	EXO_RO=1 unshare -rm sh -c "$runner" sh "$root" "$@"
else
	echo "# note: no mount namespace; EROFS cases will skip"
	sh -c "$runner" sh "$root" "$@"
fi
rc=$?
echo "---- summary ----"
cat "$root.summary"
rm -f "$root.summary"
[ $rc -eq 0 ] && echo "user suites: all passed" || echo "user suites: FAILED"
exit $rc
