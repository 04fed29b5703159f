#!/usr/bin/env bash
# vbdctl status and the loop devices the built-in hotplug step left that no
# record names, against the embedded daemon with real loop devices: an
# attach killed at the crash point between its loop device and its record
# leaves one; status lists it (text and JSON) with the command that frees
# it, that command frees it, and a loop device of someone else (losetup) or
# of another store is never listed.
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbd-orphans.XXXXXX") || exit 1
export XENSTORED_PATH=$tmp/socket
. "$(dirname "$0")/harness.sh"
cleanup() {
	local p
	for p in "$tmp"/pid "$tmp"/pid2; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
	free_loops "$tmp"/*.img
	rm -rf "$tmp"
}
trap cleanup EXIT

"$VBDCTL" store serve --socket "$tmp/socket" --daemon --pidfile "$tmp/pid" || exit 1
"$VBDCTL" store domain add 3 --name guest3 >/dev/null || exit 1
truncate -s 8M "$tmp/disk.img" "$tmp/other.img"
spec="format=raw,vdev=xvdb,access=rw,target=$tmp/disk.img"

# tagged_loop ENTRY FILE: a loop device over FILE tagged as this store's
# built-in step tags one for ENTRY (anyone who may configure a loop device
# can write such a tag); prints the device.
tagged_loop() {
	python3 -c '
import fcntl, os, sys
h = 0xcbf29ce484222325
for b in sys.argv[1].encode():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
name = b"libvbd %08x " % (h & 0xffffffff) + os.fsencode(sys.argv[3])
ctl, f = os.open("/dev/loop-control", os.O_RDWR), os.open(sys.argv[2], os.O_RDWR)
for attempt in range(50):           # another process may take the free one first
    dev = "/dev/loop%d" % fcntl.ioctl(ctl, 0x4C82)        # LOOP_CTL_GET_FREE
    fd = os.open(dev, os.O_RDWR)
    try:
        fcntl.ioctl(fd, 0x4C00, f)                          # LOOP_SET_FD
        break
    except OSError as e:
        os.close(fd)
        if e.errno != 16 or attempt == 49:                  # EBUSY
            raise
info = bytearray(232)                                       # struct loop_info64
info[56:56 + len(name)] = name                              # lo_file_name
fcntl.ioctl(fd, 0x4C04, bytes(info))                        # LOOP_SET_STATUS64
print(dev)
' "$XENSTORED_PATH" "$2" "$1"
}

check "nothing yet" 0 "$VBDCTL" status
check "no orphan line" 1 grep -q "orphan loop device" <<<"$out"
check "attach killed after its loop device" 137 \
	env VBD_CRASHPOINT=hotplug.loop-attached "$VBDCTL" attach guest3 "$spec" --wait none
check "it left one loop device" 0 test "$(loops_of "$tmp/disk.img")" = 1
loop=$(losetup -j "$tmp/disk.img" -O NAME -n)
check "record absent" 1 xenstore-exists /libvbd/backend/0-3-51728/node

check "status" 0 "$VBDCTL" status
has "status lists the orphan" \
	"orphan loop device $loop (tag entry 0-3-51728, backing $tmp/disk.img): run vbdctl detach --force 3 xvdb"
check "status of its device" 0 "$VBDCTL" status guest3 xvdb
has "status DOM VDEV lists it" "orphan loop device $loop"
check "status of another device" 0 "$VBDCTL" status guest3 xvdc
check "not listed there" 1 grep -q "orphan loop device" <<<"$out"
check "status --format xl" 0 "$VBDCTL" status --format xl
check "not in xl's table" 1 grep -q loop <<<"$out"
check "status --json" 0 "$VBDCTL" status --json
check "the JSON holds the orphan" 0 python3 -c '
import json, sys
v = json.loads(sys.argv[1])
o = [d for d in v if "orphan_loop" in d]
assert len(o) == 1, v
o = o[0]
assert o["schema_version"] == 1 and o["domid"] == 3 and o["devid"] == 51728, o
assert o["vdev"] == "xvdb" and o["backend_domid"] == 0 and o["backend_state"] is None, o
assert o["orphan_loop"] == {"device": sys.argv[2], "tag_entry": "0-3-51728",
                            "backing_file": sys.argv[3]}, o
' "$out" "$loop" "$tmp/disk.img"

# Someone else's loop device, and the same store's tag seen from another
# store: neither is listed.
other=$(losetup -f --show "$tmp/other.img")
"$VBDCTL" store serve --socket "$tmp/socket2" --daemon --pidfile "$tmp/pid2" || exit 1
check "status on another store" 0 env XENSTORED_PATH="$tmp/socket2" "$VBDCTL" status
check "another store's orphan is not its own" 1 grep -q "orphan loop device" <<<"$out"
check "status" 0 "$VBDCTL" status
check "losetup's device is never listed" 1 grep -q "$other\b" <<<"$out"
losetup -d "$other"

# A tag crafted with this store's prefix (anyone who may configure a loop
# device can write one): listed, escaped on the terminal, valid JSON.
check "a crafted tag" 0 tagged_loop $'3-1\x1b]0;owned\x07\xff/..' "$tmp/other.img"
crafted=$out
check "status" 0 "$VBDCTL" status
has "the crafted tag, escaped" \
	"orphan loop device $crafted (tag entry 3-1\\x1b]0;owned\\x07\\xff/.., backing $tmp/other.img): names no device; losetup -d $crafted frees it"
check "no raw escape reaches the terminal" 1 grep -q $'\x1b' <<<"$out"
check "status --json" 0 "$VBDCTL" status --json
check "the crafted tag in valid JSON" 0 python3 -c '
import json, sys
o = [d for d in json.loads(sys.argv[1]) if d.get("orphan_loop", {}).get("device") == sys.argv[2]]
assert len(o) == 1 and o[0]["domid"] is None and o[0]["devid"] is None, o
assert o[0]["orphan_loop"]["tag_entry"] == "3-1\x1b]0;owned\x07\ufffd/..", o
' "$out" "$crafted"
check "status 3 leaves it out" 0 "$VBDCTL" status 3
check "no device: not under domain 3" 1 grep -q "$crafted\b" <<<"$out"
losetup -d "$crafted"

check "detach --force as status says" 0 "$VBDCTL" detach --force 3 xvdb --timeout 1
check "the loop device is freed" 0 no_loops "$tmp/disk.img"
check "status after" 0 "$VBDCTL" status
check "the list is empty" 1 grep -q "orphan loop device" <<<"$out"
check "status --json after" 0 "$VBDCTL" status --json
check "[] again" 0 test "$out" = "[]"

# A record that names the device: its own, not an orphan; once the record
# is lost (a store that died), an orphan.
check "attach" 0 "$VBDCTL" attach guest3 "$spec" --wait none
check "status" 0 "$VBDCTL" status
check "a recorded device is no orphan" 1 grep -q "orphan loop device" <<<"$out"
check "the record goes" 0 xenstore-rm /libvbd/backend/0-3-51728
check "status" 0 "$VBDCTL" status
has "then it is an orphan" "orphan loop device"
check "detach --force" 0 "$VBDCTL" detach --force 3 xvdb --timeout 1
check "freed" 0 no_loops "$tmp/disk.img"

# A record that names the device's own, and another loop device tagged for
# the same entry (an ADD of a store that died): a plain detach frees what
# the record names and leaves the other to status and detach --force (it
# does not open every loop device of the machine).
check "attach" 0 "$VBDCTL" attach guest3 "$spec" --wait none
check "a second device tagged for it" 0 tagged_loop 0-3-51728 "$tmp/other.img"
second=$out
check "status" 0 "$VBDCTL" status
has "the second is an orphan" "orphan loop device $second (tag entry 0-3-51728, backing $tmp/other.img): run vbdctl detach --force 3 xvdb"
check "plain detach" 0 "$VBDCTL" detach 3 xvdb --timeout 5
check "the recorded one is freed" 0 no_loops "$tmp/disk.img"
check "status" 0 "$VBDCTL" status
has "the other is still listed" "orphan loop device $second"
check "detach --force as status says" 0 "$VBDCTL" detach --force 3 xvdb --timeout 1
check "it is freed" 0 no_loops "$tmp/other.img"
check "status" 0 "$VBDCTL" status
check "nothing listed" 1 grep -q "orphan loop device" <<<"$out"
# The same with the record still there: detach --force frees both.
check "attach" 0 "$VBDCTL" attach guest3 "$spec" --wait none
check "a second device tagged for it" 0 tagged_loop 0-3-51728 "$tmp/other.img"
check "detach --force" 0 "$VBDCTL" detach --force 3 xvdb --timeout 1
check "the recorded one is freed" 0 no_loops "$tmp/disk.img"
check "and the other" 0 no_loops "$tmp/other.img"
summary
