#!/usr/bin/env bash
# The configuration examples run as they are: `sixgate --check` accepts every
# config/*.conf once the key files it names exist (made here with wg genkey,
# in a scratch copy, never in the tree), and refuses broken variants with exit
# status 1 and "FILE:LINE: reason" on the right line.
#
#   bash tests/lab/test_dp_config_check.sh      (no root needed: --check starts no EAL)
#
# The binary: $DP_SIXGATE, or app/sixgate in $DP_BUILD, $SG_BUILD_DIR, build-dp or build.
set -u -o pipefail
. "$(dirname "$0")/dp.sh"

CF_FAILS=0
CF_CHECKS=0
CF_DIR=$(mktemp -d /tmp/sixgate-cf-check.XXXXXX)
trap 'rm -rf "$CF_DIR"' EXIT

cf_log() { printf '[cf] %s\n' "$*" >&2; }
cf_ok() {
	CF_CHECKS=$((CF_CHECKS + 1))
	cf_log "ok   $*"
}
cf_fail() {
	CF_CHECKS=$((CF_CHECKS + 1))
	CF_FAILS=$((CF_FAILS + 1))
	cf_log "FAIL $*"
}

[ -x "$DP_SIXGATE" ] || {
	cf_log "FAIL: no sixgate binary at $DP_SIXGATE (build with meson/ninja)"
	exit 1
}
command -v wg >/dev/null || {
	cf_log "FAIL: wg (wireguard-tools) is needed to make keys"
	exit 1
}

# cf_keys DIR FILE: makes every key file FILE names (relative to DIR).
cf_keys() {
	local dir=$1 conf=$2 path
	sed -n 's/^[[:space:]]*\(private_key_file\|preshared_key_file\)[[:space:]]*=[[:space:]]*\([^#[:space:]]*\).*/\1 \2/p' "$conf" |
		while read -r kind path; do
			case $path in /*) ;; *) path=$dir/$path ;; esac
			mkdir -p "$(dirname "$path")"
			if [ "$kind" = preshared_key_file ]; then
				(umask 077 && wg genpsk >"$path")
			else
				(umask 077 && wg genkey >"$path")
			fi
		done
}

# cf_expect_ok NAME CONF: --check exits 0 and says "CONF: ok".
cf_expect_ok() {
	local name=$1 conf=$2 out rc
	out=$("$DP_SIXGATE" --check --config "$conf" 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && [ "$out" = "$conf: ok" ]; then
		cf_ok "$name: --check passes"
	else
		cf_fail "$name: --check exit $rc, output: $out"
	fi
}

# cf_expect_bad NAME CONF LINE REASON: --check exits 1 with "CONF:LINE: REASON...".
cf_expect_bad() {
	local name=$1 conf=$2 line=$3 reason=$4 out rc
	out=$("$DP_SIXGATE" --check --config "$conf" 2>&1)
	rc=$?
	if [ "$rc" = 1 ] && grep -qF -- "$conf:$line: $reason" <<<"$out"; then
		cf_ok "$name: refused at line $line"
	else
		cf_fail "$name: exit $rc, want 1 and '$conf:$line: $reason', got: $out"
	fi
}

# Every example, in a scratch copy with the keys it names.
n_examples=0
for src in "$DP_ROOT"/config/*.conf; do
	name=$(basename "$src")
	d=$CF_DIR/ok-${name%.conf}
	mkdir -p "$d"
	cp "$src" "$d/$name"
	cp "$DP_ROOT"/config/*.policy "$d/"
	cf_keys "$d" "$d/$name"
	cf_expect_ok "config/$name" "$d/$name"
	n_examples=$((n_examples + 1))
done
[ "$n_examples" -ge 2 ] && cf_ok "$n_examples examples checked" ||
	cf_fail "expected config/sixgate.conf and config/demo.conf, found $n_examples"

# Broken variants of the production example.  cf_variant NAME AFTER TEXT
# inserts TEXT (awk escapes: \n for more lines) after the first line matching
# the regex AFTER, or at the end for AFTER = END, into $CF_CONF; CF_LINE is the
# number of TEXT's first line.
base=$CF_DIR/ok-sixgate/sixgate.conf
cf_variant() {
	local name=$1 after=$2 text=$3 d=$CF_DIR/bad-$1 at
	mkdir -p "$d"
	cp -r "$CF_DIR/ok-sixgate/keys" "$d/"
	if [ "$after" = END ]; then
		at=$(wc -l <"$base")
	else
		at=$(grep -n -m1 -E -- "$after" "$base" | cut -d: -f1)
	fi
	[ -n "$at" ] || {
		cf_fail "$name: no line matching '$after' in the example"
		return 1
	}
	awk -v at="$at" -v text="$text" '{ print } NR == at { print text }' "$base" >"$d/sixgate.conf"
	CF_LINE=$((at + 1))
	CF_CONF=$d/sixgate.conf
}

if cf_variant next-hop '^tx_queues' 'next_hop4 = 198.18.0.254'; then
	cf_expect_bad "next_hop4 (MACs are learned)" "$CF_CONF" "$CF_LINE" \
		"unknown key 'next_hop4' in [nic]"
fi
if cf_variant next-hop6 '^rx_queues' 'next_hop6 = fd00:1::fe'; then
	cf_expect_bad "next_hop6 (MACs are learned)" "$CF_CONF" "$CF_LINE" \
		"unknown key 'next_hop6' in [nic]"
fi
if cf_variant burst '^lcores' 'burst = 257'; then
	# The example sets burst itself: the second one is the duplicate.
	sed -i '/^burst = 32$/d' "$CF_CONF"
	cf_expect_bad "burst above 256" "$CF_CONF" "$CF_LINE" \
		"burst must be a whole number from 1 to 256, not '257'"
fi
if cf_variant timers END '[timers]\nreject_after_time = 14\nrekey_after_time = 10'; then
	cf_expect_bad "reject_after_time within keepalive + rekey timeout" "$CF_CONF" "$CF_LINE" \
		"[timers] reject_after_time (14) must be longer than keepalive_timeout + rekey_timeout (10 + 5)"
fi
if cf_variant inline-key '^listen_port' "private_key = $(cat "$CF_DIR/ok-sixgate/keys/gateway.key")"; then
	cf_expect_bad "inline private key" "$CF_CONF" "$CF_LINE" "private_key is not accepted here"
	grep -qF "$(cat "$CF_DIR/ok-sixgate/keys/gateway.key")" <(
		"$DP_SIXGATE" --check --config "$CF_CONF" 2>&1
	) && cf_fail "the message shows the key" || cf_ok "the message does not show the key"
fi
# The example without its key file: refused where the file is named.
d=$CF_DIR/bad-nokey
mkdir -p "$d"
cp "$base" "$d/"
kline=$(grep -n -m1 '^private_key_file' "$base" | cut -d: -f1)
cf_expect_bad "missing key file" "$d/sixgate.conf" "$kline" \
	"private_key_file: cannot read '$d/keys/gateway.key'"

cf_log "$CF_CHECKS checks, $CF_FAILS failed"
[ "$CF_FAILS" = 0 ]
