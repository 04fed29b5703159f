#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The systemd units and what vbdctl's daemons do under them, tested for real
# without systemd as PID 1:
#  - every unit passes systemd-analyze verify, with no warning at all;
#  - sd_notify: each daemon (store serve, devd, backend) runs with
#    NOTIFY_SOCKET on a socket this test reads; READY=1 comes once it serves
#    (a client run the moment it arrives succeeds), STOPPING=1 on SIGTERM;
#  - socket activation: systemd-socket-activate binds the store's socket and
#    hands it over as fd 3 (LISTEN_FDS, LISTEN_PID) on the first connection,
#    so a client started before the store is served; domains' sockets appear
#    beside it; the socket file stays when the store stops;
#  - journal priorities: "<3>" before an error line when stderr is the
#    stream JOURNAL_STREAM names, nothing otherwise.
# With systemd as PID 1 the store's units also run under it; here that part
# is skipped and says so.
#
# Usage: test_systemd.sh <vbdctl> <dir of the configured units> <source dir>
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <vbdctl> <unit dir> <source dir>}
UNITS=${2:?usage: $0 <vbdctl> <unit dir> <source dir>}
SRC=${3:?usage: $0 <vbdctl> <unit dir> <source dir>}
VBDCTL=$(realpath "$VBDCTL")   # ExecStart= takes only an absolute path
PY=/usr/bin/python3         # Debian's, whatever python3 is first on PATH
NOTIFY_RUN="$PY $SRC/tests/sd_notify_run.py"
ACTIVATE="$PY $SRC/tests/sd_activate.py"     # a socket unit's fd 3, at once
TMO=10                      # seconds for one client call

for t in systemd-analyze systemd-socket-activate xenstore-ls xenstore-read \
         xenstore-write timeout man "$PY"; do
	if ! command -v "$t" >/dev/null; then
		# make check installs these (systemd, xenstore-utils, man-db,
		# python3): missing, the setup is broken; never a silent skip.
		echo "FAIL: $t not installed"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbd-systemd.XXXXXX") || exit 1
export VBD_SIM_DIR=$tmp/sim
. "$SRC/tests/harness.sh"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	XENSTORED_PATH=$VBD_SIM_DIR/xenstored.sock "$VBDCTL" sim stop >/dev/null 2>&1
	free_loops "$tmp"/*.img
	rm -rf "$tmp"
}
trap cleanup EXIT
until_true() {  # until_true COMMAND...: within 20 s
	local i
	for i in $(seq 400); do "$@" && return 0; sleep 0.05; done
	return 1
}
lacks() {  # lacks "what" needle (in $out)
	if [[ $out != *"$2"* ]]; then pass=$((pass + 1)); else
		fail=$((fail + 1)); printf 'FAIL: %s: "%s" in:\n%s\n' "$1" "$2" "$out"; fi
}

# --- the units --------------------------------------------------------------
# As configured, but naming the vbdctl just built (verify checks that
# ExecStart's program exists) and vbdctl(8) from the source tree (verify runs
# man for Documentation=).
mkdir -p "$tmp/units" "$tmp/man/man8"
ln -s "$SRC/man/vbdctl.8" "$tmp/man/man8/vbdctl.8"
units=(vbd-xenstored.socket vbd-xenstored.service vbd-devd.service vbd-backend@.service)
for u in "${units[@]}"; do
	sed "s|^ExecStart=[^ ]*vbdctl |ExecStart=$VBDCTL |" "$UNITS/$u" >"$tmp/units/$u"
	[[ $u == *.socket ]] ||
		check "$u runs the configured vbdctl" 0 grep -q "^ExecStart=$VBDCTL " "$tmp/units/$u"
done
# verify exits 0 on a setting it cannot parse (it only warns): any output
# at all is a failure.
verify() { (cd "$tmp/units" && MANPATH=$tmp/man systemd-analyze verify "$@" 2>&1); }
for u in "${units[@]}"; do
	out=$(verify "$u"); rc=$?
	if [ $rc = 0 ] && [ -z "$out" ]; then pass=$((pass + 1)); else
		fail=$((fail + 1)); printf 'FAIL: verify %s: exit %s\n%s\n' "$u" $rc "$out"; fi
done
# ... and verify does catch a broken unit, so that the checks above can fail.
sed 's/^Type=notify/Type=notfy/' "$tmp/units/vbd-devd.service" >"$tmp/units/vbd-broken.service"
out=$(verify vbd-broken.service)
has "verify reports a bad setting" "Failed to parse service type"
rm "$tmp/units/vbd-broken.service"
check "socket unit listens at vbdctl's default" 0 \
	grep -qx "ListenStream=/run/vbd/xenstored/socket" "$tmp/units/vbd-xenstored.socket"
check "store serve's default is that socket" 0 sh -c \
	"'$VBDCTL' store --help | grep -q /run/vbd/xenstored/socket"

# --- sd_notify: the store ---------------------------------------------------
S=$tmp/store.sock
check "store: READY=1, then a client, then STOPPING=1" 0 \
	$NOTIFY_RUN "$tmp" "XENSTORED_PATH=$S timeout $TMO xenstore-write /ready yes" \
	-- env -u XENSTORED_PATH "$VBDCTL" store serve --socket "$S"
has "store: READY=1 sent" "msg: READY=1"
has "store: status names the socket" "msg: STATUS=serving on $S"
has "store: the client right after READY=1 succeeded" "client: 0"
has "store: STOPPING=1 on SIGTERM" "msg: STOPPING=1"
has "store: status says why" "msg: STATUS=stopping on SIGTERM"
has "store: exit 0" "exit: 0"
rm -f "$tmp/notify"
# A store that cannot serve never says READY=1.
check "store: no READY=1 when it cannot listen" 0 \
	$NOTIFY_RUN "$tmp" "true" -- "$VBDCTL" store serve --socket "$tmp/none/x/sock"
lacks "store: failed, not ready" "READY=1"
has "store: failed, exit 1" "exit: 1"
rm -f "$tmp/notify"

# --- socket activation ------------------------------------------------------
A=$tmp/act.sock
# Binds $A and waits; on the first connection execs the store with the
# socket as fd 3, same pid.
systemd-socket-activate -l "$A" "$VBDCTL" store serve >"$tmp/act.log" 2>&1 &
apid=$!
pids+=("$apid")
check "activation: socket bound before the store runs" 0 until_true test -S "$A"
# The store does not run yet: this client's connection waits in the queue
# and starts it.
check "activation: a client started before the store" 0 \
	env XENSTORED_PATH="$A" timeout $TMO xenstore-write /activated yes
check "activation: the store took over the socket" 0 \
	until_true sh -c "[ \"\$(cat /proc/$apid/comm)\" = vbdctl ]"
check "activation: the value is there" 0 env XENSTORED_PATH="$A" timeout $TMO xenstore-read /activated
has "activation: read back" "yes"
check "activation: domain add" 0 "$VBDCTL" store domain add 3 --socket "$A"
check "activation: the domain's socket beside the passed one" 0 test -S "$A.d/3"
check "activation: domain 3 through its socket" 0 \
	env XENSTORED_PATH="$A.d/3" timeout $TMO xenstore-read name
has "activation: relative to its home" "domain-3"
kill -TERM "$apid"
wait "$apid"
check "activation: store exit 0 on SIGTERM" 0 test $? = 0
check "activation: the passed socket's file stays (systemd's)" 0 test -S "$A"
check "activation: the domains' sockets are gone" 1 test -e "$A.d"
out=$(cat "$tmp/act.log")
has "activation: says where it serves" "listening on $A"
# Under activation --daemon would fork away from the pid systemd watches.
rm -f "$A"
check "activation: --daemon refused" 2 $ACTIVATE "$A" "$VBDCTL" store serve --daemon
has "activation: --daemon says why" "socket activation"
# And with READY=1: activation and notification together.
rm -f "$A"
check "activation: READY=1 on the passed socket" 0 \
	$NOTIFY_RUN "$tmp" "XENSTORED_PATH=$A timeout $TMO xenstore-ls /" \
	-- $ACTIVATE "$A" "$VBDCTL" store serve
has "activation: ready on the passed socket" "msg: STATUS=serving on $A"
has "activation: client after READY=1" "client: 0"
has "activation: exit 0" "exit: 0"
rm -f "$tmp/notify"

# --- journal priorities -----------------------------------------------------
: >"$tmp/err"
JOURNAL_STREAM=$(stat -c %d:%i "$tmp/err") "$VBDCTL" store serve \
	--socket "$tmp/none/x/sock" 2>>"$tmp/err"
out=$(cat "$tmp/err")
has "journal: an error line is priority 3" "<3>vbdctl: cannot serve on"
: >"$tmp/err"
JOURNAL_STREAM=$(stat -c %d:%i "$tmp/units") "$VBDCTL" store serve \
	--socket "$tmp/none/x/sock" 2>>"$tmp/err"
out=$(cat "$tmp/err")
has "journal: not the journal, plain line" "vbdctl: cannot serve on"
lacks "journal: not the journal, no prefix" "<3>"

# --- sd_notify: devd and the backend, on the simulated host ----------------
export XENSTORED_PATH=$VBD_SIM_DIR/xenstored.sock
DD_XS=$VBD_SIM_DIR/xenstored.sock.d/2
DD_HV=$VBD_SIM_DIR/simhv.sock.d/2
truncate -s 16M "$tmp/d1.img"
check "sim start" 0 "$VBDCTL" sim start --guests 2
# devd of driver domain guest2, ready before the backend starts; its
# NOTIFY_SOCKET an abstract one ("@name"), the store's above a path.
check "devd: READY=1 then STOPPING=1" 0 \
	env SD_NOTIFY_ABSTRACT=1 $NOTIFY_RUN "$tmp" "true" -- "$VBDCTL" devd --socket "$DD_XS"
has "devd: READY=1 sent" "msg: READY=1"
has "devd: its status" "msg: STATUS=running the hotplug steps"
has "devd: STOPPING=1" "msg: STOPPING=1"
has "devd: exit 0" "exit: 0"
rm -f "$tmp/notify"
# Its output stream is "the journal": each step's line gets its priority.
: >"$tmp/devd.log"
JOURNAL_STREAM=$(stat -c %d:%i "$tmp/devd.log") XENSTORED_PATH=$DD_XS \
	"$VBDCTL" devd --ready-fd 3 3>"$tmp/devd-ready" >>"$tmp/devd.log" 2>&1 &
pids+=("$!")
check "devd up for the backend's test" 0 until_true test -s "$tmp/devd-ready"
# The client the moment the backend says READY=1: a disk it serves
# reaches Connected.
check "backend: READY=1, then a disk it serves connects" 0 \
	env XENSTORED_PATH="$DD_XS" VBD_SIMHV_PATH="$DD_HV" $NOTIFY_RUN "$tmp" \
	"XENSTORED_PATH=$XENSTORED_PATH '$VBDCTL' attach guest1 backend=guest2,format=raw,vdev=xvdb,access=rw,target=$tmp/d1.img --timeout 20" \
	-- "$VBDCTL" backend --domain 2
has "backend: READY=1 sent" "msg: READY=1"
has "backend: its status" "msg: STATUS=serving backend/vbd of domain 2"
has "backend: the attach after READY=1 connected" "client: 0"
has "backend: STOPPING=1" "msg: STOPPING=1"
has "backend: exit 0" "exit: 0"
rm -f "$tmp/notify"
out=$(cat "$tmp/devd.log")
has "journal: devd's step is priority 6" "<6>/local/domain/2/backend/vbd/1/51728 add ok"

# --- under systemd itself ---------------------------------------------------
if [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ]; then
	echo "SKIP: units under a running systemd: PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown), not systemd;" \
	     "verify, sd_notify and socket activation were tested above without it"
else
	# Copies under their own names and socket, so that a store the host
	# runs is not touched; transient in /run/systemd/system.  The socket
	# goes under /run: the service's /tmp is private.
	R=/run/systemd/system
	T=vbd-test-$$
	D=/run/$T
	sed -e "s|/run/vbd/xenstored/socket|$D/socket|" "$tmp/units/vbd-xenstored.socket" >"$R/$T.socket"
	# The vbdctl under test may be built in a home directory.
	sed -e "s|vbd-xenstored.socket|$T.socket|g" -e "s|^ReadWritePaths=.*|ReadWritePaths=$D|" \
		-e "s|^ProtectHome=.*|ProtectHome=no|" \
		"$tmp/units/vbd-xenstored.service" >"$R/$T.service"
	systemctl daemon-reload
	check "systemd: socket unit starts" 0 systemctl start "$T.socket"
	check "systemd: a client starts the store" 0 \
		env XENSTORED_PATH="$D/socket" timeout $TMO xenstore-write /sd yes
	# Active once systemd has read READY=1, which may come after the reply.
	check "systemd: the service is active" 0 until_true systemctl -q is-active "$T.service"
	check "systemd: a domain's socket beside it" 0 "$VBDCTL" store domain add 4 --socket "$D/socket"
	check "systemd: stops" 0 systemctl stop "$T.service" "$T.socket"
	check "systemd: the domains' sockets are gone" 1 test -e "$D/socket.d"
	rm -f "$R/$T.socket" "$R/$T.service"
	rm -rf "$D"
	systemctl daemon-reload
fi

summary
