#!/usr/bin/env bash
# make soak-mem (SOAK_DEVICES, default 1000): issue 12's memory figure on
# the simulated host, through the real processes: DEVICES devices over
# DEVICES/4 guests (xvdb..xvde each), attached by SOAK_PAR concurrent
# loops of `vbdctl attach` (each to both ends Connected), then all
# detached.  The resident memory (VmRSS) of the backend and of the host
# process (the embedded store and the simulated hypervisor) is sampled idle
# after one device came and went (the baseline: what every later device
# reuses is made), with all DEVICES connected, and idle after they all
# went; it prints after/before for each, and the peak's cost per device,
# and the host's anonymous memory (/proc/PID/smaps_rollup): its heap, the
# rest of its RSS being code and libraries.
# SOAK_ROUNDS rounds (2): a round ending where the one before it did is
# memory kept for reuse, one ending higher a leak.
# The disks are tap disks (backendtype=tap) served by a `vbdctl backend
# --kind vbd3` of dom0 on the host's sockets: the same blkback serving each
# image file itself, so that a thousand devices take no loop devices from
# the machine.  Ratios, not times.  Checks: for the backend and for the
# host process, RSS after <= 1.10 x before (or 2 MiB more: issue 12's
# target) and no growth from one round's end to the next (10% or 2 MiB).
# Usage: tests/soak_mem.sh VBDCTL [DEVICES]
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl> [devices]}
devices=${2:-${SOAK_DEVICES:-1000}}
par=${SOAK_PAR:-8}
rounds=${SOAK_ROUNDS:-2}
per_guest=4
guests=$(( (devices + per_guest - 1) / per_guest ))
. "$(dirname "$0")/harness.sh"
sim_setup soakmem
tap=""
sim_cleanup_more() { [ -n "$tap" ] && kill "$tap" 2>/dev/null; wait 2>/dev/null; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# The anonymous part (heap and mappings; the rest is code and libraries).
anon() { awk '/^Anonymous/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
letters=(b c d e)

check "sim start --guests $guests" 0 "$VBDCTL" sim start --guests "$guests"
[ "$fail" = 0 ] || { echo "$out"; summary; exit 1; }
host=$(cat "$VBD_SIM_DIR/host.pid")
VBD_SIMHV_PATH=$VBD_SIM_DIR/simhv.sock "$VBDCTL" backend --kind vbd3 --ready-fd 3 \
	--stats-dir "$VBD_SIM_DIR/backend-stats" 3>"$tmp/ready" 2>"$tmp/tap.log" &
tap=$!
for i in $(seq 400); do [ -s "$tmp/ready" ] && break; sleep 0.05; done
check "the vbd3 backend is ready" 0 test -s "$tmp/ready"

# dev I: guest and vdev of the I-th device (0-based).
dev() { echo "guest$(( $1 / per_guest + 1 )) xvd${letters[$(( $1 % per_guest ))]}"; }
spec() { echo "format=raw,vdev=$2,access=rw,backendtype=tap,target=$tmp/d$1.img"; }
for i in $(seq 0 $((devices - 1))); do truncate -s 1M "$tmp/d$i.img"; done

# attach_some K / detach_some K: the devices I with I % par == K, one at a time.
attach_some() {
	local i g v
	for i in $(seq "$1" "$par" $((devices - 1))); do
		read -r g v <<< "$(dev "$i")"
		out=$("$VBDCTL" attach "$g" "$(spec "$i" "$v")" --timeout 60 2>&1) ||
			echo "FAIL attach $g $v: $out"
	done > "$tmp/attach.$1"
}
detach_some() {
	local i g v
	for i in $(seq "$1" "$par" $((devices - 1))); do
		read -r g v <<< "$(dev "$i")"
		out=$("$VBDCTL" detach "$g" "$v" --timeout 60 2>&1) || echo "FAIL detach $g $v: $out"
	done > "$tmp/detach.$1"
}

# The baseline: one device came and went.
read -r g v <<< "$(dev 0)"
check "warm-up attach" 0 "$VBDCTL" attach "$g" "$(spec 0 "$v")" --timeout 60
check "warm-up detach" 0 "$VBDCTL" detach "$g" "$v" --timeout 60
sleep 1
b_be=$(rss "$tap") b_host=$(rss "$host") b_anon=$(anon "$host") f_be=$(fds "$tap") f_host=$(fds "$host")

# Each round: all attached, the peak sampled, all detached, idle sampled.
# A second round ending where the first did is memory kept for reuse; one
# ending higher, a leak.
: > "$tmp/rounds"
for r in $(seq "$rounds"); do
	pids=""
	for k in $(seq 0 $((par - 1))); do attach_some "$k" & pids="$pids $!"; done
	wait $pids
	connected=$(xenstore-list /local/domain/0/backend/vbd3 2>/dev/null |
		while read -r d; do xenstore-list "/local/domain/0/backend/vbd3/$d"; done | wc -l)
	p_be=$(rss "$tap") p_host=$(rss "$host") p_anon=$(anon "$host")
	pids=""
	for k in $(seq 0 $((par - 1))); do detach_some "$k" & pids="$pids $!"; done
	wait $pids
	sleep 2   # idle: the store trims its heap 250 ms after its last shrink
	a_be=$(rss "$tap") a_host=$(rss "$host") a_anon=$(anon "$host")
	echo "round $r: $connected connected; peak $p_be/$p_host kB, after $a_be/$a_host kB (backend/store)" >> "$tmp/rounds"
	cat "$tmp"/attach.* "$tmp"/detach.* >> "$tmp/failed"
done
g_be=$(fds "$tap") g_host=$(fds "$host")

failures=$(grep -c '^FAIL' "$tmp/failed")
echo "soak-mem: $devices devices over $guests guests ($par at once), $rounds round(s): $failures failures"
grep '^FAIL' "$tmp/failed" | head -10
cat "$tmp/rounds"
printf '%-28s %10s %10s %10s %14s %14s\n' "VmRSS kB" before peak after "after/before" "peak/device"
for w in be host anon; do
	eval "b=\$b_$w p=\$p_$w a=\$a_$w"
	case $w in
	be) name="backend (vbd3, pid $tap)" ;;
	host) name="store+hypervisor (pid $host)" ;;
	*) name="  of which anonymous" ;;
	esac
	awk -v n="$name" -v b="$b" -v p="$p" -v a="$a" -v d="$devices" 'BEGIN {
		printf "%-28s %10d %10d %10d %14.2f %11.1f KiB\n", n, b, p, a, a / b, (p - b) / d }'
done
echo "fds: backend $f_be before, $g_be after; store+hypervisor $f_host before, $g_host after"
check "every device connected at the peak (last round)" 0 test "$connected" = "$devices"
check "no attach or detach failed" 0 test "$failures" = 0
back() { awk -v b="$1" -v a="$2" 'BEGIN { exit !(a > 0 && (a <= b * 1.10 || a - b <= 2048)) }'; }
check "the backend's RSS given back (after <= 1.10 x before, or 2 MiB)" 0 back "$b_be" "$a_be"
check "the host lived throughout" 0 test -e "/proc/$host" -a -n "$a_host"
check "the host's RSS given back (after <= 1.10 x before, or 2 MiB)" 0 back "$b_host" "$a_host"
if [ "$rounds" -ge 2 ]; then
	r1_be=$(sed -n '1s/.*after \([0-9]*\)\/.*/\1/p' "$tmp/rounds")
	r1_host=$(sed -n '1s/.*after [0-9]*\/\([0-9]*\) kB.*/\1/p' "$tmp/rounds")
	check "the backend: no growth from round 1's end to round $rounds's ($r1_be -> $a_be kB)" 0 back "$r1_be" "$a_be"
	check "the store: no growth from round 1's end to round $rounds's ($r1_host -> $a_host kB)" 0 back "$r1_host" "$a_host"
fi
check "the backend's fds given back" 0 test "$g_be" -le "$f_be"
check "the store's fds given back" 0 test "$g_host" -le "$f_host"
check "no backend dir left" 1 xenstore-exists /local/domain/0/backend/vbd3
check "no /libxl copy left" 1 sh -c "xenstore-ls /libxl 2>/dev/null | grep -q device"
kill "$tap"
wait "$tap"
check "the vbd3 backend exits 0 on SIGTERM" 0 test $? = 0
tap=""
check "sim stop" 0 "$VBDCTL" sim stop
[ "$fail" = 0 ] || { echo "the host's log ends:"; grep -v "exited with status 0" "$VBD_SIM_DIR/host.log" | tail -20; }
summary
