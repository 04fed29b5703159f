#!/bin/bash
# Lab benchmark, in xenlab's dom0 (make bench-xen; not part of check-xen):
# issue 13's real-Xen targets, in one boot with one PV guest whose kernel
# runs xen-blkfront.  The same 8 MiB image is attached and detached
# VBD_BENCH_N times (15) by each of three paths, in interleaved rounds:
#   vbdctl-kernel  vbdctl attach (built-in hotplug) served by the kernel's
#                  xen-blkback; vbdctl detach
#   xl             xl block-attach (Xen's block script), then the wait for
#                  Connected; xl block-detach
#   vbdctl-ours    vbdctl attach served by our userspace blkback (vbdctl
#                  backend; the kernel's xen-blkback unloaded for it, as in
#                  drivers.sh); vbdctl detach
#   vbdctl-baseline  only when run.sh was given VBD_BENCH_BASELINE (another
#                  build's vbdctl, run as it is, on this build's libvbd):
#                  as vbdctl-kernel, next to it (each first in turn), on
#                  xvde; an A/B of the command's start in one run, the load
#                  the same for both
# A round is: xen-blkback loaded; vbdctl-kernel and xl (in turn first);
# xen-blkback unloaded, vbdctl backend started and ready; vbdctl-ours;
# vbdctl backend stopped.  Each path has its own vdev (xvdb, xvdc, xvdd).
# Timed by vbd-lab-stamp (tests/xenlab/bench_stamp.c): from the command's
# start until both state nodes read 4 (Connected), and the detach command
# until both directories are gone; it also stamps each change of the state,
# physical-device and hotplug-status nodes, which is where the time goes.
# Prints p50/p90 of each path, the ratios xl/vbdctl-kernel (target >= 10)
# and vbdctl-ours/vbdctl-kernel (target <= 1.0) with PASS or MISS, the
# median stamp of each step, and every figure as "CSV," lines that run.sh
# collects into BUILD/bench-xen.csv.  Never fails on a timing: the exit
# status is non-zero only if it could not run (no guest, a path that never
# connected at all).
# Then, untimed, the xenstore requests of one attach+detach by each path,
# counted in C xenstored's own trace.
# VBDCTL is vbdctl as installed (run.sh removes the build tree's RUNPATH),
# as xl is.
# Usage: bench.sh VBDCTL VBD_BLOCK_SCRIPT
. "$(dirname "$0")/common.sh"
vbdctl=$1
set -u
n=${VBD_BENCH_N:-15}
stamp=/xenlab/share/bin/vbd-lab-stamp
csv() { local IFS=,; echo "CSV,$*"; }

cp "$2" /etc/xen/scripts/vbd-block && chmod 0755 /etc/xen/scripts/vbd-block || { echo "bench: installing vbd-block failed"; exit 1; }
mkdir -p /bench && mount -t tmpfs -o size=64m tmpfs /bench
make_disk /bench/disk.img 8 VBDBENCH-DISK
guest_cfg bench > /bench/g.cfg
xl create /bench/g.cfg || { echo "bench: xl create failed"; exit 1; }
d=$(xl domid bench)
domu_wait_console bench "init" 60 >/dev/null 2>&1 || true
BE=/local/domain/0/backend/vbd/$d
FE=/local/domain/$d/device/vbd
# target= last: xl takes the rest of the string as the path.
disk=format=raw,access=rw,target=/bench/disk.img
declare -A vdev=([vbdctl-kernel]=xvdb [xl]=xvdc [vbdctl-ours]=xvdd [vbdctl-baseline]=xvde)
declare -A devid=([vbdctl-kernel]=51728 [xl]=51744 [vbdctl-ours]=51760 [vbdctl-baseline]=51776)
baseline=/xenlab/share/bin/vbdctl-baseline
methods="vbdctl-kernel xl vbdctl-ours"
[ -x "$baseline" ] && methods="$methods vbdctl-baseline"

blkback_load() {
	grep -q '^xen_blkback ' /proc/modules && return 0
	modprobe xen_blkback 2>/dev/null || insmod "$(find /lib/modules -name 'xen-blkback.ko*' | head -1)"
}
blkback_unload() {  # a device the kernel just let go of can hold it a moment
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		grep -q '^xen_blkback ' /proc/modules || return 0
		rmmod xen_blkback 2>/dev/null && return 0
		sleep 0.5
	done
	return 1
}
be_pid=
ours_start() {
	rm -f /bench/ready && mkfifo /bench/ready
	$vbdctl backend --domain 0 --ready-fd 3 3>/bench/ready >> /bench/backend.log 2>&1 &
	be_pid=$!
	local x=
	read -r -n1 -t 60 x < /bench/ready
	[ "$x" = r ]
}
ours_stop() {
	[ -n "$be_pid" ] || return 0
	kill "$be_pid" 2>/dev/null
	wait "$be_pid" 2>/dev/null
	be_pid=
}

# cpu_ticks PID: the process's user + system time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }

# one METHOD ROUND: attach, wait for Connected, detach; one CSV line per
# sample, the stamps kept in /bench/stamps.METHOD.
one() {
	local m=$1 r=$2 dev=${devid[$1]} out up_ms cmd_ms rc down_ms dcmd_ms drc
	local attach detach
	case $m in
	xl) attach=(xl block-attach bench "vdev=${vdev[$m]},$disk")
	    detach=(xl block-detach bench "${vdev[$m]}") ;;
	vbdctl-baseline)
	   attach=("$baseline" attach bench "vdev=${vdev[$m]},$disk" --timeout 90)
	   detach=("$baseline" detach bench "${vdev[$m]}" --timeout 30) ;;
	*) attach=("$vbdctl" attach bench "vdev=${vdev[$m]},$disk" --timeout 90)
	   detach=("$vbdctl" detach bench "${vdev[$m]}" --timeout 30) ;;
	esac
	out=$("$stamp" --timeout 120 "$BE/$dev" "$FE/$dev" -- "${attach[@]}" 2>>/bench/cmd.log)
	printf '%s\n' "$out" | sed "s/^/$m $r /" >> "/bench/stamps.$m"
	printf '%s\n' "$out" | sed -n "s/^STAMP \([^ ]*\) \(.*\)/CSV,stamp,$m,$r,\2,\1,,/p"
	read -r up_ms cmd_ms rc < <(printf '%s\n' "$out" | sed -n 's/^RESULT mode=up done_ms=\([^ ]*\) cmd_ms=\([^ ]*\) cmd_rc=\(.*\)/\1 \2 \3/p')
	out=$("$stamp" --gone --timeout 60 "$BE/$dev" "$FE/$dev" -- "${detach[@]}" 2>>/bench/cmd.log)
	read -r down_ms dcmd_ms drc < <(printf '%s\n' "$out" | sed -n 's/^RESULT mode=gone done_ms=\([^ ]*\) cmd_ms=\([^ ]*\) cmd_rc=\(.*\)/\1 \2 \3/p')
	if [ "${rc:-1}" != 0 ] || [ "${up_ms:--1}" = -1.0 ] || [ "${drc:-1}" != 0 ] || [ "${down_ms:--1}" = -1.0 ]; then
		echo "bench: $m round $r failed: attach rc=${rc:-?} connected=${up_ms:-?}, detach rc=${drc:-?} gone=${down_ms:-?}"
		printf '%s\n' "$out" | tail -5
		tail -5 /bench/cmd.log
		csv sample "$m" "$r" failed 1 "" ""
		# Leave nothing for the next sample to trip over.
		"$vbdctl" detach bench "${vdev[$m]}" --force --timeout 30 >/dev/null 2>&1
		xl block-detach bench "${vdev[$m]}" >/dev/null 2>&1
		xenstore-rm "$BE/$dev" 2>/dev/null
		return 0
	fi
	echo "$m $r $up_ms $cmd_ms $down_ms" >> /bench/samples
	csv sample "$m" "$r" connected_ms "$up_ms" "" ""
	csv sample "$m" "$r" attach_cmd_ms "$cmd_ms" "" ""
	csv sample "$m" "$r" detach_gone_ms "$down_ms" "" ""
}

echo "== bench: $n rounds, guest $d, $(grep -c ^processor /proc/cpuinfo) dom0 vCPUs, xenstored $XENLAB_XENSTORED"
: > /bench/samples
: > /bench/be_ticks
for r in $(seq 1 "$n"); do
	blkback_load || { echo "bench: cannot load xen-blkback"; exit 1; }
	# A backend on a host is long started: each gets a second to finish
	# starting (the module's init, our process's first look at its dir)
	# before the attach it serves is timed, so that its start does not
	# share the dom0 vCPUs with the command's.
	sleep 1
	# The baseline beside vbdctl-kernel, each first in turn: the first
	# attach after xen-blkback's load or after xl pays for what they left.
	if [ $((r % 2)) = 1 ]; then
		one vbdctl-kernel "$r"; [ -x "$baseline" ] && one vbdctl-baseline "$r"; one xl "$r"
	else
		one xl "$r"; [ -x "$baseline" ] && one vbdctl-baseline "$r"; one vbdctl-kernel "$r"
	fi
	blkback_unload || { echo "bench: cannot unload xen-blkback"; exit 1; }
	ours_start || { echo "bench: vbdctl backend not ready"; tail /bench/backend.log; exit 1; }
	sleep 1
	t0=$(cpu_ticks "$be_pid")
	one vbdctl-ours "$r"
	t1=$(cpu_ticks "$be_pid")
	[ -n "$t0" ] && [ -n "$t1" ] && echo "$r $((t1 - t0))" >> /bench/be_ticks
	ours_stop
	echo "bench: round $r done: $(grep -c " $r " /bench/samples)/$(echo $methods | wc -w) timed"
done
blkback_load

# pct P METHOD COLUMN [FILE]: nearest-rank percentile of a column of the
# samples (or of FILE's rows, "METHOD ROUND VALUE...").
pct() {
	awk -v m="$2" -v c="$3" '$1 == m { print $c }' "${4:-/bench/samples}" | sort -n |
		awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "NA"; exit } i = int((p * NR + 99) / 100); if (i < 1) i = 1; print v[i] }'
}
ran=1
echo "== attach -> both Connected (ms), command time, detach -> gone (ms)"
# min: the sample the machine's load touched least.
printf '%-14s %3s %9s %9s %9s %10s %10s\n' path n min p50 p90 cmd_p50 detach_p50
for m in $methods; do
	cnt=$(awk -v m="$m" '$1 == m' /bench/samples | wc -l)
	[ "$cnt" -gt 0 ] || ran=0
	p0=$(pct 0 "$m" 3) p50=$(pct 50 "$m" 3) p90=$(pct 90 "$m" 3)
	printf '%-14s %3s %9s %9s %9s %10s %10s\n' "$m" "$cnt" "$p0" "$p50" "$p90" "$(pct 50 "$m" 4)" "$(pct 50 "$m" 5)"
	csv summary "$m" "" n "$cnt" "" ""
	csv summary "$m" "" connected_min_ms "$p0" "" ""
	csv summary "$m" "" connected_p50_ms "$p50" "" ""
	csv summary "$m" "" connected_p90_ms "$p90" "" ""
	csv summary "$m" "" attach_cmd_p50_ms "$(pct 50 "$m" 4)" "" ""
	csv summary "$m" "" detach_gone_p50_ms "$(pct 50 "$m" 5)" "" ""
	eval "p50_${m//-/_}=$p50"
done
[ "$ran" = 1 ] || { echo "bench: a path never connected; no ratios"; exit 1; }
# target NAME VALUE OP LIMIT
target() {
	local v
	v=$(awk -v v="$2" -v op="$3" -v l="$4" 'BEGIN { ok = (op == ">=") ? v >= l : v <= l; print ok ? "PASS" : "MISS" }')
	printf '%-34s %6s (target %s %s) %s\n' "$1" "$2" "$3" "$4" "$v"
	csv target "$1" "" ratio "$2" "$3 $4" "$v"
}
target "xl/vbdctl-kernel p50" "$(awk -v a="$p50_xl" -v b="$p50_vbdctl_kernel" 'BEGIN { printf "%.2f", a / b }')" ">=" 10
target "vbdctl-ours/vbdctl-kernel p50" "$(awk -v a="$p50_vbdctl_ours" -v b="$p50_vbdctl_kernel" 'BEGIN { printf "%.2f", a / b }')" "<=" 1.0
# The load of a shared machine moves from round to round; the paths of one
# round ran within a minute of each other, so the median of the per-round
# ratios says the same with less of that noise (shown, not judged).
paired() {  # paired A B [FILE]: median over rounds with both timed of A/B
	awk -v a="$1" -v b="$2" '$1 == a { x[$2] = $3 } $1 == b { y[$2] = $3 }
		END { for (r in x) if ((r in y) && y[r] > 0) printf "%.2f\n", x[r] / y[r] }' "${3:-/bench/samples}" |
		sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "NA" }'
}
v=$(paired xl vbdctl-kernel); echo "median of per-round xl / vbdctl-kernel: $v"
csv paired "xl/vbdctl-kernel" "" median_ratio "$v" "" ""
v=$(paired vbdctl-ours vbdctl-kernel); echo "median of per-round vbdctl-ours / vbdctl-kernel: $v"
csv paired "vbdctl-ours/vbdctl-kernel" "" median_ratio "$v" "" ""
# The backends' part alone: from the command's commit (the backend's
# state 1 stamped) to both ends Connected, what precedes it being the same
# command either way.
for m in vbdctl-kernel vbdctl-ours; do
	awk -v m="$m" '$3 == "STAMP" && $5 == "be/state=1" { c[$2] = $4 }
		$3 == "RESULT" { d = $5; sub(/^done_ms=/, "", d); if ((($2) in c) && d + 0 > 0) printf "%s %s %.1f\n", m, $2, d - c[$2] }' \
		"/bench/stamps.$m"
done > /bench/backend_part
v=$(paired vbdctl-ours vbdctl-kernel /bench/backend_part)
for m in vbdctl-kernel vbdctl-ours; do
	printf 'commit -> both Connected, %s p50: %s ms\n' "$m" "$(pct 50 "$m" 3 /bench/backend_part)"
done
echo "median of per-round vbdctl-ours / vbdctl-kernel, commit -> both Connected: $v"
csv paired "vbdctl-ours/vbdctl-kernel commit->connected" "" median_ratio "$v" "" ""
if [ -x "$baseline" ]; then
	v=$(paired vbdctl-baseline vbdctl-kernel); echo "median of per-round vbdctl-baseline / vbdctl-kernel: $v"
	csv paired "vbdctl-baseline/vbdctl-kernel" "" median_ratio "$v" "" ""
	v=$(paired xl vbdctl-baseline); echo "median of per-round xl / vbdctl-baseline: $v"
	csv paired "xl/vbdctl-baseline" "" median_ratio "$v" "" ""
fi

# What our backend's process spent on the CPU for its round's attach and
# detach (ticks of the dom0 kernel's clock, 1/100 s on Debian's): the
# part of vbdctl-ours's time that competes with everything else in dom0.
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
v=$(awk '{ print $2 }' /bench/be_ticks | sort -n | awk -v hz="$hz" '{ v[NR] = $1 } END { if (NR) printf "%.0f", v[int((NR + 1) / 2)] * 1000 / hz; else print "NA" }')
echo "== vbdctl backend CPU per attach+detach (median of $(wc -l < /bench/be_ticks) rounds): $v ms"
csv cpu vbdctl-ours "" backend_cpu_ms "$v" "" ""

# Where the time goes: the median time of each stamped step (the first time
# a node took that value in a sample), by path.
echo "== where the time goes: median ms from the command's start to each step (samples seeing it)"
for m in $methods; do
	echo "-- $m"
	awk '$3 == "STAMP" { k = $1 " " $2 " " $5; if (!(k in seen)) { seen[k] = 1; print $5, $4 } }
	     $3 == "RESULT" { split($6, c, "="); print "(command-exit)", c[2] }' "/bench/stamps.$m" |
		sort -k1,1 -k2,2n |
		awk 'function out() { if (c) printf "%10.1f %3d %s\n", v[int((c + 1) / 2)], c, key }
		     $1 != key { out(); key = $1; c = 0 } { v[++c] = $2 } END { out() }' |
		sort -n | tee "/bench/steps.$m" | grep -v "=(none)"
	while read -r ms cnt step; do
		case $step in *"=(none)") continue ;; esac
		csv step "$m" "" "$step" "$ms" "" ""
	done < "/bench/steps.$m"
done
# What a process start costs here, beside the steps above: a bare
# fork+exec, vbdctl's own start (dynamic linking of libvbd, libxenlight...),
# and a vbdctl command that opens its contexts and looks the guest up.
echo "== process costs: median ms of 3 runs"
probe() {  # probe NAME COMMAND...: the command timed alone (no xenstore wait)
	local name=$1 i v; shift
	for i in 1 2 3; do
		"$stamp" --gone /bench/none /bench/none -- "$@" 2>/dev/null |
			sed -n 's/^RESULT .* cmd_ms=\([^ ]*\) .*/\1/p'
	done | sort -n | sed -n 2p | { read -r v; printf '%10s  %s\n' "$v" "$name"; csv probe "$name" "" cmd_ms "$v" "" ""; }
}
probe "fork+exec /bin/true" /bin/true
probe "vbdctl --version" "$vbdctl" --version
# The build tree's binary (run.sh): its RUNPATH's failed lookups.
probe "vbdctl --version, build tree" /xenlab/share/bin/vbdctl --version
[ -x "$baseline" ] && probe "vbdctl-baseline --version" "$baseline" --version
probe "vbdctl status GUEST" "$vbdctl" status bench
probe "xl list GUEST" xl list bench

# The xenstore requests of one attach+detach by each path, from C
# xenstored's own trace (each request is an "IN" line naming its
# connection): untimed, after the rounds, between markers that this script
# writes (nothing else of it runs inside a window).  The connection that
# writes a frontend's `event-channel` is the guest's kernel; the one that
# writes a backend's `sectors` is the backend, and so is every other one
# older than the path's first marker (the dom0 kernel's, `vbdctl backend`'s;
# a kernel names its nodes relative to its home, and the toolstack writes
# both states too); one made since (the command, its hotplug script and the
# processes it starts) is the toolstack's.  C xenstored only: oxenstored's
# access log leaves requests out.
if [ "$XENLAB_XENSTORED" != oxenstored ]; then
	echo "== xenstore requests per attach+detach (C xenstored's trace; toolstack, backend, frontend)"
	tr=/bench/xs.trace
	if xenstore-control logfile $tr >/dev/null && xenstore-control log on >/dev/null; then
		k=0
		mark() { k=$((k + 1)); xenstore-write /vbd-bench-mark "$k"; }
		for m in vbdctl-kernel xl vbdctl-ours; do
			dev=${devid[$m]}
			if [ "$m" = vbdctl-ours ]; then
				blkback_unload && ours_start || { echo "bench: vbdctl backend not ready"; continue; }
			fi
			case $m in
			xl) a=(xl block-attach bench "vdev=${vdev[$m]},$disk"); dt=(xl block-detach bench "${vdev[$m]}") ;;
			*) a=("$vbdctl" attach bench "vdev=${vdev[$m]},$disk" --timeout 90)
			   dt=("$vbdctl" detach bench "${vdev[$m]}" --timeout 30) ;;
			esac
			mark; a0=$k
			"${a[@]}" >/dev/null 2>>/bench/cmd.log
			sleep 3   # xl returns at its script's end, not at Connected
			mark
			up="$(xenstore-read "$BE/$dev/state" 2>/dev/null) $(xenstore-read "$FE/$dev/state" 2>/dev/null)"
			mark; d0=$k
			"${dt[@]}" >/dev/null 2>>/bench/cmd.log
			sleep 2
			mark
			[ "$m" = vbdctl-ours ] && { ours_stop; blkback_load; }
			# Sum the two windows (attach, detach) per connection.
			awk -v a="$a0" -v d="$d0" '
				/^IN .* WRITE \(\/vbd-bench-mark / { split($0, f, "mark "); n = f[2] + 0; on = (n == a || n == d); span = (n >= a && n <= d); next }
				$1 == "CREATE" && $2 == "connection" { if (span) late[$3] = 1; next }
				$1 != "IN" { next }
				$0 ~ /WRITE \((\/local\/domain\/[0-9]+\/)?backend\/vbd\/[0-9]+\/[0-9]+\/sectors / { role[$2] = "backend" }
				$0 ~ /WRITE \((\/local\/domain\/[0-9]+\/)?device\/vbd\/[0-9]+\/(queue-[0-9]+\/)?event-channel / { role[$2] = "frontend" }
				on { c[$2]++ }
				END { for (x in c) { r = (x in role) ? role[x] : (x in late) ? "toolstack" : "backend"
				                     t[r] += c[x]; all += c[x] }
				      printf "%d %d %d %d\n", all, t["toolstack"], t["backend"], t["frontend"] }' $tr |
			{ read -r all ts be fe
			  printf '%-14s %5s requests (toolstack %s, backend %s, frontend %s); states at Connected: %s\n' \
			         "$m" "$all" "$ts" "$be" "$fe" "$up"
			  csv requests "$m" "" xenstore_requests "$all" "" ""
			  csv requests "$m" "" toolstack "$ts" "" ""
			  csv requests "$m" "" backend "$be" "" ""
			  csv requests "$m" "" frontend "$fe" "" ""; }
		done
		xenstore-control log off >/dev/null
	else
		echo "bench: C xenstored's trace could not be turned on: no request counts"
	fi
fi

grep -iE "error|fail" /bench/backend.log | head -5
xl destroy bench
exit 0
