#!/usr/bin/env bash
# What one attach+detach costs the bundled drivers in xenstore requests, on
# the simulated host: the store's CONTROL conns (a line per connection: pid,
# domid, then each request type's count), summed per process, the backend's
# and the guest's frontend's, over cycles of `vbdctl attach` and `detach`.
# Pinned so that a regression fails: before the cuts that ARCHITECTURE.md
# ("Where the round trips go") describes, the backend asked 72 and the
# frontend 59 per cycle; then 53-54 and 53; then 50 and 46 (a watch per
# device's node kept set for its next attach; 51-52.6 and 49.4-50 without);
# then 48 and 46 (the attach's physical-device event, which the read that
# opened the target saw, no longer read again); now 48 and 44.5-46.5 (the
# offers read with the frontend's start reads, and a new device's state
# read alone: the listing of device/vbd only when a device goes; how the
# events fall into bursts moves a few state reads).
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
. "$(dirname "$0")/harness.sh"
sim_setup drvreq

# CONTROL conns to the store at $XENSTORED_PATH (xenstore-control wants a
# hypervisor), summed for the connections of the pids given: "requests
# type count type count ..." per pid, one line each.
conns() {
	python3 - "$@" <<'PY'
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["XENSTORED_PATH"])
p = b"conns\0"
s.sendall(struct.pack("=IIII", 0, 1, 0, len(p)) + p)   # XS_CONTROL
def take(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            sys.exit(1)
        b += c
    return b
t, _, _, ln = struct.unpack("=IIII", take(16))
if t != 0:
    sys.exit(1)
per = {pid: {} for pid in sys.argv[1:]}
for line in take(ln).decode().rstrip("\0").splitlines():
    w = line.split()
    if len(w) < 6 or w[0] != "pid" or w[1] not in per:
        continue
    for k in range(6, len(w) - 1, 2):
        per[w[1]][w[k]] = per[w[1]].get(w[k], 0) + int(w[k + 1])
for pid in sys.argv[1:]:
    c = per[pid]
    print(pid, sum(c.values()), " ".join("%s %d" % kv for kv in sorted(c.items())))
PY
}
child() {  # the pid of the host's child whose command line matches $1
	local p
	for p in $(pgrep -P "$(cat "$VBD_SIM_DIR/host.pid")"); do
		if tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- "$1"; then echo "$p"; return; fi
	done
}
# count PID FILE: that pid's total in a conns() output.
count() { awk -v p="$1" '$1 == p { print $2 }' "$2"; }

truncate -s 16M "$tmp/d.img"
check "sim start" 0 "$VBDCTL" sim start --guests 1
be=$(child " backend")
fe=$(child " frontend")
check "a backend and a frontend process" 0 test -n "$be" -a -n "$fe"
check "conns answers" 0 conns "$be" "$fe"

spec="format=raw,vdev=xvdb,access=rw,target=$tmp/d.img"
cycle() {
	"$VBDCTL" attach guest1 "$spec" --timeout 20 >/dev/null &&
		"$VBDCTL" detach guest1 xvdb --timeout 20 >/dev/null
}
# The first cycle makes what stays (the guest's scan has seen its dir).
check "a first attach+detach" 0 cycle
# A cycle's last events (the nodes' removal) may still be on their way
# when detach returns: counted from one cycle's start to the next's, over
# n cycles, each cycle's tail falls in some window.
n=5
conns "$be" "$fe" > "$tmp/c0"
ok=0
for i in $(seq $n); do cycle && ok=$((ok + 1)); done
conns "$be" "$fe" > "$tmp/c1"
check "$n attach+detach cycles" 0 test "$ok" = "$n"
per() {  # per PID: requests per cycle, x10 (one decimal)
	echo $(( ($(count "$1" "$tmp/c1") - $(count "$1" "$tmp/c0")) * 10 / n ))
}
bq=$(per "$be")
fq=$(per "$fe")
printf 'per attach+detach: backend %d.%d requests, frontend %d.%d\n' \
	$((bq / 10)) $((bq % 10)) $((fq / 10)) $((fq % 10))
bytype() {  # bytype PID: each request type's count per cycle
	awk -v p="$1" -v n="$n" '$1 == p { for (k = 3; k < NF; k += 2) c[$k] += (FILENAME ~ /c1$/ ? 1 : -1) * $(k + 1) }
		END { for (t in c) if (c[t]) printf " %s %.1f", t, c[t] / n }' "$tmp/c0" "$tmp/c1"
}
echo "backend  by type:$(bytype "$be")"
echo "frontend by type:$(bytype "$fe")"
# Room for a read that event batching moves around, not for a
# regression: before, 72 and 59, then 53-54 and 53.
check "backend: at most 48.5 requests per attach+detach (was 54, then 49)" 0 test "$bq" -le 485
check "frontend: at most 47 requests per attach+detach (was 53, then 48)" 0 test "$fq" -le 470
check "both: at most 95 (was 107, then 99)" 0 test $((bq + fq)) -le 950
fdir=$(bytype "$fe" | awk '{ for (k = 1; k < NF; k += 2) if ($k == "directory") print $(k + 1) * 10 }')
check "frontend: one listing per cycle, the device's removal's (was 2)" 0 test "${fdir:-0}" -le 10
check "the host after the cycles" 0 "$VBDCTL" sim status
summary
