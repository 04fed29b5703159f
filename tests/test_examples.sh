#!/usr/bin/env bash
# The embedding examples run as an agent author would first run them: on a
# simulated host (vbdctl sim start), each attaches a disk to Connected from
# its event loop (sd-event, libuv), detaches it and exits 0; nothing of the
# device is left.
#   test_examples.sh VBDCTL EXAMPLE...
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl> <example>...}
shift
. "$(dirname "$0")/harness.sh"
sim_setup examples

check "sim start" 0 "$VBDCTL" sim start --guests 1
n=0
for ex in "$@"; do
	name=$(basename "$ex")
	n=$((n + 1))
	vdev=xvd$(printf "\\x$(printf %x $((97 + n)))")   # xvdb, xvdc, ...
	truncate -s 16M "$tmp/$name.img"
	check "$name: attach and detach" 0 \
		timeout 60 "$ex" guest1 "format=raw,vdev=$vdev,access=rw,target=$tmp/$name.img"
	has "$name: says what it waits for" "attach: waiting for both ends Connected"
	has "$name: Connected" "$vdev attached to domain 1, both ends Connected"
	has "$name: detached" "$vdev detached from domain 1"
	check "$name: no nodes left" 1 xenstore-exists /local/domain/0/backend/vbd/1
	check "$name: no loop device left" 0 no_loops "$tmp/$name.img"
done
check "at least one example ran" 0 test "$n" -ge 1
check "sim stop" 0 "$VBDCTL" sim stop
summary
