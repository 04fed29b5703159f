#!/usr/bin/env bash
# The bash completion (completion/vbdctl) as bash calls it, against the
# simulated host: COMP_LINE/COMP_POINT (and COMP_WORDS/COMP_CWORD as bash
# splits them) set, _vbdctl called, COMPREPLY checked.  Commands, each
# command's options (from its --help), option values, live domain names and
# ids and a domain's vdevs (through vbdctl complete), and xl disk spec keys
# and values, also after a comma.
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
. "$(dirname "$0")/harness.sh"
sim_setup comp
. "$(dirname "$0")/../completion/vbdctl" || exit 1

# comp "LINE": completes at the end of LINE (vbdctl in it is $VBDCTL);
# $out gets COMPREPLY, one a line, sorted.
comp() {
	local IFS=$' \t\n'
	COMP_LINE="$VBDCTL ${1}"
	COMP_POINT=${#COMP_LINE}
	# As bash splits it: blanks, and '=' and ':' as words of their own.
	read -ra COMP_WORDS <<<"$(sed 's/[=:]/ & /g' <<<"$COMP_LINE")"
	[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_vbdctl vbdctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]:-}"
	out=$(printf '%s\n' "${COMPREPLY[@]}" | sort)
}
is() {  # is "what" "expected, one a line"
	if [ "$out" = "$2" ]; then pass=$((pass + 1)); else
		fail=$((fail + 1)); printf 'FAIL: %s: got:\n%s\nwant:\n%s\n' "$1" "$out" "$2"; fi
}
hasline() {  # hasline "what" LINE (a whole line of $out)
	if grep -qxF -- "$2" <<<"$out"; then pass=$((pass + 1)); else
		fail=$((fail + 1)); printf 'FAIL: %s: no line "%s" in:\n%s\n' "$1" "$2" "$out"; fi
}

truncate -s 16M "$tmp/d1.img"
check "sim start" 0 "$VBDCTL" sim start --guests 2

comp "at";                       is "a command" "attach"
comp "";                         hasline "commands: detach" detach
                                 hasline "commands: status" status
comp "--quiet det";              is "a command after --quiet" "detach"
comp "--ver";                    is "global options" $'--verbose\n--version'
comp "attach ";                  is "domains: names and ids" $'0\n1\n2\nDomain-0\nguest1\nguest2'
comp "attach gu";                is "domain names" $'guest1\nguest2'
comp "attach guest1 for";        is "a spec key" "format="
comp "attach guest1 format=";    is "format's values" $'qcow\nqcow2\nqed\nraw\nvhd'
comp "attach guest1 format=ra";  is "a format value" "raw"
comp "attach guest1 format=raw,vd"; is "a key after a comma" "raw,vdev="
comp "attach guest1 format=raw,vdev=xvdb,access=r"; is "access's values" $'r\nro\nrw'
comp "attach guest1 format=raw,backendtype="; is "backend types" $'phy\nqdisk\nstandalone\ntap'
comp "attach guest1 format=raw,devtype=c"; is "devtype" "cdrom"
comp "attach guest1 format=raw,backend=gu"; is "backend= takes domains" $'guest1\nguest2'
comp "attach guest1 format=raw,target=$tmp/d"; is "target= takes files" "$tmp/d1.img"
comp "attach guest1 format=raw,vdev=xvdb,access=rw,target=$tmp/d1.img --ti"; is "attach's options" "--timeout"
comp "attach guest1 x --wait ";  is "--wait's values" $'connected\ninitwait\nnone'
comp "attach guest1 x --backend-domain gu"; is "--backend-domain takes domains" $'guest1\nguest2'
comp "status --format ";         is "--format's values" $'json\ntext\nxl'
comp "status --f";               is "status's options" "--format"
comp "store ";                   is "store's subcommands" $'domain\nserve'
comp "store domain ";            is "store domain's subcommands" $'add\nremove'
comp "sim st";                   is "sim's subcommands" $'start\nstatus\nstop'

check "attach a disk" 0 "$VBDCTL" attach guest1 "format=raw,vdev=xvdb,access=rw,target=$tmp/d1.img" --timeout 20
comp "detach guest1 ";           is "a domain's vdevs" "xvdb"
comp "detach 1 xv";              is "vdevs of a domain by id" "xvdb"
comp "detach guest2 ";           is "a domain without disks" ""
comp "status guest1 ";           is "status DOM VDEV" "xvdb"
comp "io guest1 xvdb ";          is "io's operations" $'discard\nflush\ninfo\nread\nwrite'
comp "detach guest1 xvdb --f";   is "detach's options" "--force"
comp "watch --t";                is "watch's options" $'--timeline\n--timeout'
comp "verify guest1 xvdb --";    hasline "verify's options: --svg" --svg
comp "verify guest1 --svg $tmp/d"; is "--svg takes a file" "$tmp/d1.img"
comp "verify guest1 --svg x ";   is "--svg's file is no positional" "xvdb"
check "vbdctl complete vdevs of no domain" 1 "$VBDCTL" complete vdevs nosuch
check "says nothing" 0 test -z "$out"
check "vbdctl complete: unknown" 2 "$VBDCTL" complete nothing
check "detach" 0 "$VBDCTL" detach guest1 xvdb
check "sim stop" 0 "$VBDCTL" sim stop
comp "attach ";                  is "no host: no domains, no noise" ""
summary
