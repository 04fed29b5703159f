#!/usr/bin/env bash
# make soak (SOAK_SECONDS, default 600; CI runs a short form): on the
# simulated host, LOOPS concurrent loops (default 32) across GUESTS guests
# (default 8), each: attach its own image, write a random MiB through the
# ring, flush, read it back and compare (and the image file itself),
# detach.  Meanwhile, at moments drawn from SOAK_SEED (printed; set it to
# repeat a run), a guest's frontend or the backend is killed with SIGKILL
# and started again (vbdctl sim restart): one kill every SOAK_KILL_EVERY
# seconds (60), two at least, the first two one of each kind, so that even
# a short run has both.
#
# A cycle that fails while its guest or the backend was killed is
# interrupted: it recovers as a user would (vbdctl detach --force) and the
# loop goes on; any other failure is a failure.  Both are counted, each
# with its message.  No write is lost: a cycle interrupted after its write
# and flush completed still finds its data in the image file.  Nothing is
# left (nodes, loop devices, processes, sockets), and the RSS and open fds
# of every long-running process (the host: store and hypervisor; the
# backend; each guest's frontend) are sampled every SOAK_SAMPLE seconds:
# idle after the soak, each may hold no more fds, and (within 10% or
# 2 MiB) no more memory, than at the end of its own warm-up: idle after the
# soak's warm-up for a process that ran throughout, for a restarted one
# (a new process) the first sample SOAK_WARM seconds after its start.
# Usage: tests/soak.sh VBDCTL [SECONDS]
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl> [seconds]}
secs=${2:-${SOAK_SECONDS:-600}}
loops=${SOAK_LOOPS:-32}
guests=${SOAK_GUESTS:-8}
sample_every=${SOAK_SAMPLE:-5}
kill_every=${SOAK_KILL_EVERY:-60}
io_timeout=${SOAK_IO_TIMEOUT:-30}
seed=${SOAK_SEED:-$(( $(date +%s%N) / 1000 % 1000000000 ))}
. "$(dirname "$0")/harness.sh"
sim_setup soak
pids=""
sim_cleanup_more() { [ -n "$pids" ] && kill $pids 2>/dev/null; wait 2>/dev/null; }

check "sim start --guests $guests" 0 "$VBDCTL" sim start --guests "$guests"
[ "$fail" = 0 ] || { summary; exit 1; }
host=$(cat "$VBD_SIM_DIR/host.pid")
letters=(b c d e f g h i j k l m n o p q r s t u v w x y z)
roles="host backend $(seq -f 'guest%g' 1 "$guests" | tr '\n' ' ')"

# pid_of ROLE: the running process of that role.
pid_of() {
	local p want
	case $1 in
	host) echo "$host"; return ;;
	backend) want="backend --domain 0" ;;
	*) want="frontend --domain ${1#guest} " ;;
	esac
	for p in $(pgrep -P "$host"); do
		if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$want"; then
			echo "$p"; return
		fi
	done
}
# Each role's current pid ($tmp/pid.ROLE), every pid seen with the second
# it started ($tmp/started: "pid role t"; -1 for those up before the soak),
# and each role's kill generation: $tmp/gen.ROLE counts kills begun,
# $tmp/up.ROLE those whose restart has completed.
: > "$tmp/started"
for r in $roles; do
	p=$(pid_of "$r")
	echo "$p" > "$tmp/pid.$r"
	echo "$p $r -1" >> "$tmp/started"
	echo 0 > "$tmp/gen.$r"
	echo 0 > "$tmp/up.$r"
done
gen() { cat "$tmp/gen.$1"; }
up() { [ "$(cat "$tmp/gen.$1")" = "$(cat "$tmp/up.$1")" ]; }

# vbdctl io with the soak's time limit; a run the limit ends says so (it
# prints nothing itself: timeout kills it).
io() {
	local out rc=0
	out=$(timeout "$io_timeout" "$VBDCTL" io "$@" 2>&1) || rc=$?
	[ "$rc" = 124 ] && out="no answer in ${io_timeout} s (vbdctl io $1 $2 $3 stopped by timeout)${out:+; $out}"
	printf '%s\n' "$out"
	return "$rc"
}

# one_loop I: attach/write/read/compare/detach until the deadline; one
# line per cycle in $tmp/loop.I: ok (ok+ if its guest or the backend was
# killed and restarted during it), INTR and why (a step failed while its
# guest or the backend was killed), FAIL and why (anything else, and wrong
# data whatever happened: a kill fails a step, it corrupts nothing); and
# for a cycle that failed after its flush, KEPT or FAIL lost write.
one_loop() {
	local i=$1 g=$(( $1 % guests + 1 )) v img data back step gg gb flushed why
	v=xvd${letters[$(( $1 / guests ))]}
	img=$tmp/d$i.img data=$tmp/w$i back=$tmp/r$i
	truncate -s 8M "$img"
	while [ "$(date +%s)" -lt "$deadline" ] && [ ! -e "$tmp/stop" ]; do
		# Not while its guest or the backend is being restarted.
		while { ! up "guest$g" || ! up backend; } && [ ! -e "$tmp/stop" ]; do sleep 0.2; done
		gg=$(gen "guest$g") gb=$(gen backend) flushed=0 why=""
		head -c 1048576 /dev/urandom > "$data"
		if ! out=$("$VBDCTL" attach "guest$g" "format=raw,vdev=$v,access=rw,target=$img" \
		           --timeout 30 2>&1); then
			step=attach
		elif ! out=$(io "guest$g" "$v" write 4096 1048576 --file "$data"); then
			step=write
		elif ! out=$(io "guest$g" "$v" flush); then
			step=flush
		elif flushed=1 && ! out=$(io "guest$g" "$v" read 4096 1048576 --file "$back"); then
			step=read
		elif ! cmp -s "$data" "$back"; then
			step=data out="read back differs from what was written"
		elif ! cmp -s "$data" <(dd if="$img" bs=4096 skip=1 count=256 status=none); then
			step=data out="the image differs from what was written and flushed"
		elif ! out=$("$VBDCTL" detach "guest$g" "$v" --timeout 30 2>&1); then
			step=detach
		else
			step=""
		fi
		[ "$gg" = "$(gen "guest$g")" ] || why="guest$g killed"
		[ "$gb" = "$(gen backend)" ] || why="${why:+$why, }backend killed"
		if [ -z "$step" ]; then
			echo "ok${why:++}"
			continue
		fi
		[ "$step" = attach ] && [ -z "$why" ] && { echo "FAIL attach guest$g $v: $out"; continue; }
		# A kill fails a step; it never makes one return wrong data.
		if [ -n "$why" ] && [ "$step" != data ]; then
			echo "INTR $step guest$g $v ($why): $(echo "$out" | head -1)"
		else
			echo "FAIL $step guest$g $v: $out"
		fi
		[ "$step" = attach ] && continue
		if ! out=$("$VBDCTL" detach "guest$g" "$v" --timeout 10 --force 2>&1); then
			echo "FAIL detach --force guest$g $v: $out"
		fi
		# Written and flushed before the kill: it is in the image (unless
		# that was checked already: the image compared, or detach failed).
		if [ "$flushed" = 1 ] && [ "$step" != detach ] &&
		   [ "$out" != "the image differs from what was written and flushed" ]; then
			if cmp -s "$data" <(dd if="$img" bs=4096 skip=1 count=256 status=none); then
				echo "KEPT guest$g $v: flushed before the $step failed, and in the image"
			else
				echo "FAIL lost write guest$g $v: flushed before the $step failed, not in the image"
			fi
		fi
	done > "$tmp/loop.$i"
}

# RSS (kB) and fds of each long-running process: "T role:pid:rss:fds ...".
sample() {
	local r p line="$1"
	for r in $roles; do
		p=$(cat "$tmp/pid.$r")
		line="$line $r:$p:$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)"
		line="$line:$(ls "/proc/$p/fd" 2>/dev/null | wc -l)"
	done
	echo "$line"
}

# host_alive: the host still runs; if not (something stopped or killed
# it), the loops stop and it is a failure.
host_alive() {
	[ -e "/proc/$host" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$host/stat" 2>/dev/null && return 0
	[ -e "$tmp/stop" ] && return 1
	touch "$tmp/stop"
	echo "FAIL the host (pid $host) ended at $(( $(date +%s) - t0 )) s: $(tail -1 "$VBD_SIM_DIR/host.log")" >> "$tmp/loop.host"
	return 1
}

# kill_one ROLE: SIGKILL, then vbdctl sim restart; the loops see the
# generation change first.
kill_one() {
	local r=$1 old new t
	old=$(cat "$tmp/pid.$r")
	t=$(( $(date +%s) - t0 ))
	echo $(( $(gen "$r") + 1 )) > "$tmp/gen.$r"
	kill -9 "$old"
	if ! out=$("$VBDCTL" sim restart "$r" --timeout 30 2>&1); then
		# The command can miss the host's answer (and say so) while the
		# host restarts the process all the same: then that is noted.
		for n in $(seq 300); do
			grep -q "^$r [0-9]* ready" "$VBD_SIM_DIR/status" 2>/dev/null &&
				! grep -q "^$r $old " "$VBD_SIM_DIR/status" && break
			sleep 0.1
		done
		if grep -q "^$r [0-9]* ready" "$VBD_SIM_DIR/status" && ! grep -q "^$r $old " "$VBD_SIM_DIR/status"; then
			echo "note at $t s: sim restart $r failed ($out), but the host restarted it" >> "$tmp/kills"
		else
			echo "FAIL restart $r: $out" >> "$tmp/loop.kills"
		fi
	fi
	new=$(pid_of "$r")
	echo "$new" > "$tmp/pid.$r"
	echo "$new $r $(( $(date +%s) - t0 ))" >> "$tmp/started"
	cat "$tmp/gen.$r" > "$tmp/up.$r"
	echo "kill at $t s: $r (pid $old) SIGKILL, restarted as pid $new in $(( $(date +%s) - t0 - t )) s" >> "$tmp/kills"
}

# The kills, drawn from the seed: n = secs / kill_every (2 at least), the
# k-th in the middle half of the k-th of n+1 equal slots, the first two
# one of each kind (which first drawn too), then either.
RANDOM=$seed
nkills=$(( secs / kill_every > 2 ? secs / kill_every : 2 ))
slot=$(( secs / (nkills + 1) ))
first=$(( RANDOM % 2 ))
: > "$tmp/schedule"
for k in $(seq "$nkills"); do
	t=$(( slot * k - slot / 4 + RANDOM % (slot / 2 + 1) ))
	if [ "$k" -le 2 ]; then kind=$(( (k + first) % 2 )); else kind=$(( RANDOM % 3 == 0 )); fi
	if [ "$kind" = 1 ]; then r=backend; else r=guest$(( RANDOM % guests + 1 )); fi
	echo "$t $r" >> "$tmp/schedule"
done
echo "soak: seed $seed (SOAK_SEED=$seed repeats these kills): $(awk '{ printf "%s%s at %d s", n++ ? ", " : "", $2, $1 }' "$tmp/schedule")"

# A warm-up (a tenth of the time, 3 s at least) first, no kills: libraries
# paged in, malloc arenas made; what a process holds idle after it is the
# baseline of the processes that run throughout.
warm=${SOAK_WARM:-$(( secs / 10 > 3 ? secs / 10 : 3 ))}
deadline=$(( $(date +%s) + warm ))
for i in $(seq 0 $((loops - 1))); do one_loop "$i" & pids="$pids $!"; done
wait $pids
mkdir -p "$tmp/warm" && mv "$tmp"/loop.* "$tmp/warm/"
t0=$(date +%s)
echo "# seconds, then role:pid:RSS_kB:fds (the first line idle after the warm-up, the last idle after the soak)" > "$tmp/samples"
sample 0 >> "$tmp/samples"
: > "$tmp/kills"
deadline=$(( t0 + secs ))
pids=""
for i in $(seq 0 $((loops - 1))); do one_loop "$i" & pids="$pids $!"; done
next_sample=$sample_every
while read -r t r; do
	while [ $(( $(date +%s) - t0 )) -lt "$t" ] && host_alive; do
		if [ $(( $(date +%s) - t0 )) -ge "$next_sample" ]; then
			sample "$(( $(date +%s) - t0 ))" >> "$tmp/samples"
			next_sample=$(( next_sample + sample_every ))
		fi
		sleep 0.5
	done
	host_alive || break
	kill_one "$r"
done < "$tmp/schedule"
while [ "$(date +%s)" -lt "$deadline" ] && host_alive; do
	if [ $(( $(date +%s) - t0 )) -ge "$next_sample" ]; then
		sample "$(( $(date +%s) - t0 ))" >> "$tmp/samples"
		next_sample=$(( next_sample + sample_every ))
	fi
	sleep 0.5
done
wait $pids
pids=""
sleep 1
sample "$(( $(date +%s) - t0 ))" >> "$tmp/samples"

count() { cat "$tmp"/loop.* | grep -c "$1"; }
cycles=$(count '^ok') through=$(count '^ok+') interrupted=$(count '^INTR')
failures=$(count '^FAIL') kept=$(count '^KEPT') lost=$(count '^FAIL lost write')
echo "soak: $secs s, $loops loops on $guests guests, seed $seed: $cycles cycles ($through through a kill)," \
	"$interrupted interrupted, $failures failures; $kept interrupted after their flush found their data in the image, $lost lost"
cat "$tmp/kills"
grep -h '^INTR' "$tmp"/loop.* | sed 's/ guest[0-9]* xvd[a-z]* / /; s/: .*//' | sort | uniq -c | sort -rn | sed 's/^/interrupted: /'
grep -h '^INTR' "$tmp"/loop.* | head -5
grep -h '^FAIL' "$tmp"/loop.* | sort | uniq -c | sort -rn | head -20
cat "$tmp/samples"
check "cycles ran" 0 test "$cycles" -gt 0
check "no cycle failed" 0 test "$failures" = 0
check "no write lost" 0 test "$lost" = 0
check "no warm-up cycle failed" 1 grep -q '^FAIL\|^INTR' -r "$tmp/warm"
check "every kill done: $nkills" 0 test "$(grep -c SIGKILL "$tmp/kills")" = "$nkills"
check "a guest killed and restarted" 0 grep -q ': guest[0-9]* (pid [0-9]*) SIGKILL' "$tmp/kills"
check "the backend killed and restarted" 0 grep -q ': backend (pid [0-9]*) SIGKILL' "$tmp/kills"
# none_under PATH...: nothing under them (what is, printed).
none_under() {
	local p bad=0
	for p in "$@"; do
		if xenstore-exists "$p" 2>/dev/null && [ -n "$(xenstore-list "$p" 2>/dev/null)" ]; then
			echo "$p:"; xenstore-ls "$p" | head -20; bad=1
		fi
	done
	return $bad
}
check "no backend dir left" 0 none_under /local/domain/0/backend/vbd
check "no frontend dir left" 0 none_under $(seq -f '/local/domain/%g/device/vbd' 1 "$guests")
check "no /libxl copy left" 0 none_under $(seq -f '/libxl/%g/device' 1 "$guests")
check "no hotplug record left" 0 none_under /libvbd/backend
leftover=0
for i in $(seq 0 $((loops - 1))); do no_loops "$tmp/d$i.img" 2>/dev/null || leftover=$((leftover + 1)); done
check "no loop device left" 0 test "$leftover" = 0
# Leaks: idle after the soak, each process against its own warm-up: for
# one that ran throughout, idle after the soak's warm-up; for a restarted
# one, its first sample $warm s after it started (under load: the loops
# ran).  It may hold no more open fds than then, and its RSS within 10%
# (or 2 MiB); the samples between show the peak.  A process restarted too
# late to have a warm-up is listed, not compared; a killed one is gone.
# A client that happens to be connected when the last sample is taken
# (a process of the system, a late reply) is not a leak: the last sample
# is taken again, every half second for up to 3 s, while the check fails;
# a leak stays.  Then what each process over its baseline holds is shown.
leak_check() {
	awk -v warm="$warm" '
		FNR == NR { start[$1] = $3; role[$1] = $2; next }
		/^#/ { next }
		{ for (f = 2; f <= NF; f++) {
			split($f, a, ":"); p = a[2]
			if (!(p in base) && (start[p] < 0 || $1 >= start[p] + warm)) {
				base[p] = $1; br[p] = a[3] + 0; bf[p] = a[4] + 0 }
			last[p] = $1; lr[p] = a[3] + 0; lf[p] = a[4] + 0
		  }
		  t = $1 }
		END { bad = 0
		  for (p in last) {
			if (last[p] != t)
				continue
			if (!(p in base)) {
				printf "%s (pid %s, restarted at %d s): less than its warm-up (%d s) before the end, not compared\n", role[p], p, start[p], warm
				continue
			}
			printf "%s (pid %s, %s): %d kB, %d fds at %d s; idle after the soak %d kB, %d fds\n", role[p], p,
				start[p] < 0 ? "throughout" : "restarted at " start[p] " s", br[p], bf[p], base[p], lr[p], lf[p]
			if (lr[p] > br[p] * 1.10 && lr[p] - br[p] > 2048) {
				print "  RSS not given back: " role[p] " pid " p; bad = 1 }
			if (lf[p] > bf[p]) {
				print "  fds not given back: " role[p] " pid " p; bad = 1 }
		  }
		  exit bad }' "$tmp/started" "$tmp/samples" > "$tmp/leaks"
}
for try in 1 2 3 4 5 6; do
	leak_check && break
	sleep 0.5
	sed -i '$d' "$tmp/samples"
	sample "$(( $(date +%s) - t0 ))" >> "$tmp/samples"
done
leak_check
leaks=$?
if [ "$leaks" != 0 ]; then
	for p in $(sed -n 's/^  fds not given back: .* pid //p' "$tmp/leaks"); do
		echo "open fds of pid $p:"; ls -l "/proc/$p/fd" 2>/dev/null | sed 1d | awk '{ print "  " $(NF-2), $NF }'
		ss -xp 2>/dev/null | grep "pid=$p," | sed 's/^/  /' | head -40
	done >> "$tmp/leaks"
fi
cat "$tmp/leaks"
check "RSS and fds given back once the devices are gone" 0 test "$leaks" = 0
check "sim stop" 0 "$VBDCTL" sim stop
[ "$fail" = 0 ] || { echo "the host's log ends:"; grep -v '^guest[0-9]*: ' "$VBD_SIM_DIR/host.log" | tail -15; }
alive=""
# (A zombie is gone: its parent, whoever adopted the host, reaps it.)
for p in $(awk '{ print $1 }' "$tmp/started"); do
	[ -e "/proc/$p" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$p/stat" 2>/dev/null && alive="$alive $p"
done
check "no process of the host left:$alive" 0 test -z "$alive"
check "no socket left" 0 test -z "$(find "$VBD_SIM_DIR" -type s 2>/dev/null)"
summary
