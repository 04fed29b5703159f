#!/usr/bin/env bash
# make soak (SOAK_SECONDS, default 600; CI runs a short form): on the
# simulated host, LOOPS concurrent loops (default 32) across GUESTS guests
# (default 8), each: attach its own image, write a random MiB through the
# ring, flush, read it back and compare, detach.  Counts cycles and
# failures (each with its message), checks that nothing is left (nodes,
# loop devices), and samples the RSS and open fds of every long-running
# process of the host (store and hypervisor, backend, guests' frontends)
# every SOAK_SAMPLE seconds; idle after the loops, each must have given
# back its fds and (within 10%) its memory, compared with idle after a
# warm-up.  Kills of guests and the backend mid-run are not in it yet.
# Usage: tests/soak.sh VBDCTL [SECONDS]
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl> [seconds]}
secs=${2:-${SOAK_SECONDS:-600}}
loops=${SOAK_LOOPS:-32}
guests=${SOAK_GUESTS:-8}
sample_every=${SOAK_SAMPLE:-5}
. "$(dirname "$0")/harness.sh"
sim_setup soak
pids=""
sim_cleanup_more() { [ -n "$pids" ] && kill $pids 2>/dev/null; wait 2>/dev/null; }

check "sim start --guests $guests" 0 "$VBDCTL" sim start --guests "$guests"
[ "$fail" = 0 ] || { summary; exit 1; }
host=$(cat "$VBD_SIM_DIR/host.pid")
procs="$host $(pgrep -P "$host" | tr '\n' ' ')"
letters=(b c d e f g h i j k l m n o p q r s t u v w x y z)

# one_loop I: attach/write/read/compare/detach until the deadline; one
# line per cycle in $tmp/loop.I (ok, or FAIL and why).
one_loop() {
	local i=$1 g=$(( $1 % guests + 1 )) v img data back
	v=xvd${letters[$(( $1 / guests ))]}
	img=$tmp/d$i.img data=$tmp/w$i back=$tmp/r$i
	truncate -s 8M "$img"
	while [ "$(date +%s)" -lt "$deadline" ]; do
		head -c 1048576 /dev/urandom > "$data"
		if ! out=$("$VBDCTL" attach "guest$g" "format=raw,vdev=$v,access=rw,target=$img" \
		           --timeout 30 2>&1); then
			echo "FAIL attach guest$g $v: $out"; continue
		fi
		if ! out=$("$VBDCTL" io "guest$g" "$v" write 4096 1048576 --file "$data" 2>&1) ||
		   ! out=$("$VBDCTL" io "guest$g" "$v" flush 2>&1) ||
		   ! out=$("$VBDCTL" io "guest$g" "$v" read 4096 1048576 --file "$back" 2>&1); then
			echo "FAIL io guest$g $v: $out"
		elif ! cmp -s "$data" "$back"; then
			echo "FAIL data guest$g $v: read back differs from what was written"
		elif ! cmp -s "$data" <(dd if="$img" bs=4096 skip=1 count=256 status=none); then
			echo "FAIL data guest$g $v: the image differs from what was written and flushed"
		else
			echo ok
		fi
		if ! out=$("$VBDCTL" detach "guest$g" "$v" --timeout 30 2>&1); then
			echo "FAIL detach guest$g $v: $out"
			"$VBDCTL" detach "guest$g" "$v" --timeout 5 --force >/dev/null 2>&1
		fi
	done > "$tmp/loop.$i"
}

# RSS (kB) and fds of each long-running process, one line per sample.
sample() {
	local p line="$1"
	for p in $procs; do
		line="$line $(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo -)"
		line="$line/$(ls "/proc/$p/fd" 2>/dev/null | wc -l)"
	done
	echo "$line"
}

# A warm-up (a tenth of the time, 3 s at least) first: libraries paged in,
# malloc arenas made; what a process holds idle after it is the baseline.
warm=$(( secs / 10 > 3 ? secs / 10 : 3 ))
deadline=$(( $(date +%s) + warm ))
for i in $(seq 0 $((loops - 1))); do one_loop "$i" & pids="$pids $!"; done
wait $pids
mkdir -p "$tmp/warm" && mv "$tmp"/loop.* "$tmp/warm/"
t0=$(date +%s)
echo "# seconds  then RSS_kB/fds for: $procs (the first line idle after the warm-up, the last idle after the soak)" > "$tmp/samples"
sample 0 >> "$tmp/samples"
deadline=$(( $(date +%s) + secs ))
pids=""
for i in $(seq 0 $((loops - 1))); do one_loop "$i" & pids="$pids $!"; done
while [ "$(date +%s)" -lt "$deadline" ]; do
	sample "$(( $(date +%s) - t0 ))" >> "$tmp/samples"
	sleep "$sample_every"
done
wait $pids
pids=""
sample "$(( $(date +%s) - t0 ))" >> "$tmp/samples"

cycles=$(cat "$tmp"/loop.* | grep -c '^ok$')
failures=$(cat "$tmp"/loop.* | grep -c '^FAIL')
echo "soak: $secs s, $loops loops on $guests guests: $cycles cycles, $failures failures"
grep -h '^FAIL' "$tmp"/loop.* | sort | uniq -c | sort -rn | head -20
cat "$tmp/samples"
check "cycles ran" 0 test "$cycles" -gt 0
check "no cycle failed" 0 test "$failures" = 0
check "no warm-up cycle failed" 1 grep -q '^FAIL' -r "$tmp/warm"
check "no backend dir left" 1 xenstore-exists /local/domain/0/backend/vbd
check "no /libxl copy left" 1 sh -c "xenstore-ls /libxl 2>/dev/null | grep -q device"
leftover=0
for i in $(seq 0 $((loops - 1))); do [ "$(loops_of "$tmp/d$i.img")" = 0 ] || leftover=$((leftover + 1)); done
check "no loop device left" 0 test "$leftover" = 0
# Leaks: idle after the warm-up and idle after the soak, each process may
# hold no more open fds than before (one the warm-up left open, such as a
# backend's last device closing, may be gone) and its RSS within 10% (or
# 2 MiB) of before:
# what the devices took was given back.  The samples between show the peak.
awk '
	/^#/ { next }
	{ for (f = 2; f <= NF; f++) {
		split($f, a, "/")
		if (!seen) { br[f] = a[1] + 0; bf[f] = a[2] + 0 }
		lr[f] = a[1] + 0; lf[f] = a[2] + 0
	  }
	  seen = 1 }
	END { bad = 0
	  for (f in lr) {
		if (lr[f] > br[f] * 1.10 && lr[f] - br[f] > 2048) {
			print "RSS not given back: process " f - 1 ": " br[f] " kB idle before, " lr[f] " kB idle after"; bad = 1 }
		if (lf[f] > bf[f]) {
			print "fds not given back: process " f - 1 ": " bf[f] " idle before, " lf[f] " idle after"; bad = 1 }
	  }
	  exit bad }' "$tmp/samples" > "$tmp/leaks"
leaks=$?
cat "$tmp/leaks"
check "RSS and fds given back once the devices are gone" 0 test "$leaks" = 0
check "sim stop" 0 "$VBDCTL" sim stop
summary
