#!/usr/bin/env bash
# Interop proof of sixgate's protocol core against wireguard-go, the real
# peer.  sg-wgpeer (tests/tools: the gateway's own handshake core lib/control,
# over lib/noise, lib/cookie, lib/replay, lib/timers, lib/ratelimit, lib/wire
# and lib/crypto, on a kernel UDP socket, no DPDK) is the WireGuard peer of a
# wireguard-go interface in another namespace:
#
#   ns ${LAB}c: wireguard-go, TUN ${LAB}c0, fdaa:0:18:a7b:1::2, UDP [fd00:18:a7b::2]:51821
#                 | veth, fd00:18:a7b::/64
#   ns ${LAB}t: sg-wgpeer --address fdaa:0:18:a7b:2::1, UDP [fd00:18:a7b::1]:51820
#
# Cases: (1) wireguard-go initiates, ping6 gets echo replies that the tool
# builds and encrypts; (2) the tool initiates and pings the client's kernel
# through wireguard-go; (3) preshared keys, right and wrong, from both sides;
# (4) wrong peer keys; (5) a replayed initiation; (6) replayed, forged and
# garbage data; (7) under load: cookie reply, then mac2.  Every refusal is
# asserted on the tool's counters (--stats JSON), and on wireguard-go's
# `wg show` and verbose log where it can tell.  See docs/interop.md.
. "$(dirname "$0")/lib.sh"
lab_init wgio

top=$(cd "$(dirname "$0")/../.." && pwd)
bd=${SG_BUILD_DIR:-build}
case "$bd" in
/*) ;;
*) bd="$top/$bd" ;;
esac
TOOL="$bd/tests/tools/sg-wgpeer"
[ -x "$TOOL" ] || lab_die "$TOOL is not built (ninja -C $bd)"

TOOL_UL=fd00:18:a7b::1
CLIENT_UL=fd00:18:a7b::2
TOOL_ADDR=fdaa:0:18:a7b:2::1
CLIENT_ADDR=fdaa:0:18:a7b:1::2
WGC="${LAB}c0"

lab_netns c
lab_netns t
lab_veth c "${LAB}v0" t "${LAB}v1"
lab_addr c "${LAB}v0" "$CLIENT_UL/64"
lab_addr t "${LAB}v1" "$TOOL_UL/64"
lab_wait_for 5 lab_exec c ping -6 -c1 -W1 "$TOOL_UL" || lab_die "underlay ping"

lab_wg_keys client
lab_wg_keys tool
lab_wg_keys other
(umask 077 && wg genpsk >"$LAB_DIR/good.psk" && wg genpsk >"$LAB_DIR/wrong.psk")
CLIENT_PUB=$(cat "$LAB_DIR/client.pub")
TOOL_PUB=$(cat "$LAB_DIR/tool.pub")
OTHER_PUB=$(cat "$LAB_DIR/other.pub")

# Verbose, so that its own view of each case can be checked in its log.
LOG_LEVEL=verbose lab_wg_start c "$WGC"
wg set "$WGC" private-key "$LAB_DIR/client.key" listen-port 51821
lab_addr c "$WGC" "$CLIENT_ADDR/128"
lab_exec c ip link set "$WGC" mtu 1420 up
lab_exec c ip -6 route add fdaa::/16 dev "$WGC"

# client_peer PUB [PSKFILE]: (re)creates wireguard-go's only peer, so that no
# session, timestamp or handshake time is left from the case before.
client_peer() {
	local p
	for p in $(wg show "$WGC" peers); do wg set "$WGC" peer "$p" remove; done
	if [ -n "${2:-}" ]; then
		wg set "$WGC" peer "$1" preshared-key "$2" endpoint "[$TOOL_UL]:51820" allowed-ips fdaa::/16
	else
		wg set "$WGC" peer "$1" endpoint "[$TOOL_UL]:51820" allowed-ips fdaa::/16
	fi
}

# wg_mark / wg_logged MARK TEXT: whether wireguard-go logged TEXT after MARK,
# its own view of a case.
WG_LOG="$LAB_DIR/wg-$WGC.log"
wg_mark() { wc -l <"$WG_LOG"; }
wg_logged() { tail -n +$(($1 + 1)) "$WG_LOG" | grep -qF "$2"; }
wg_not_logged() { ! wg_logged "$@"; }

# wg_handshake: wireguard-go's latest handshake time with its peer (0: never).
wg_handshake() { wg show "$WGC" latest-handshakes | awk '{ print $2; exit }'; }

TOOL_ARGS=(--private-key "$LAB_DIR/tool.key" --listen "[$TOOL_UL]:51820" --address "$TOOL_ADDR")

# tool_start NAME args...: a responder tool in ns t; sets TOOL_PID.
tool_start() {
	local name=$1
	shift
	lab_spawn "$name" t "$TOOL" "${TOOL_ARGS[@]}" --stats "$LAB_DIR/$name.json" --timeout 120 "$@"
	TOOL_PID=$LAB_LAST_PID
	lab_wait_for 5 grep -q "listening" "$LAB_DIR/$name.log" || lab_die "$name did not start"
}

# tool_run NAME args...: a tool in the foreground (it initiates); returns its status.
tool_run() {
	local name=$1
	shift
	timeout -k 5 40 ip netns exec "${LAB}t" "$TOOL" "${TOOL_ARGS[@]}" \
		--stats "$LAB_DIR/$name.json" "$@" >"$LAB_DIR/$name.log" 2>&1
}

# tool_stats NAME: the running tool writes its counters now (SIGUSR1).
tool_stats() {
	rm -f "$LAB_DIR/$1.json"
	kill -USR1 "$TOOL_PID"
	lab_wait_for 5 test -f "$LAB_DIR/$1.json" || lab_die "$1 wrote no stats"
}

# tool_stop NAME: SIGTERM; the tool writes its counters on the way out.
tool_stop() {
	rm -f "$LAB_DIR/$1.json"
	lab_stop "$TOOL_PID"
	test -f "$LAB_DIR/$1.json" || lab_die "$1 wrote no stats at exit"
}

# counter NAME COUNTER: one value from the stats of tool run NAME (one key a line).
counter() { sed -n "s/^  \"$2\": \([0-9]*\),\{0,1\}\$/\1/p" "$LAB_DIR/$1.json"; }

# expect NAME COUNTER OP VALUE: one check on a counter of tool run NAME.
expect() {
	local v
	v=$(counter "$1" "$2")
	lab_check "$1: $2 $3 $4 (is $v)" test "$v" "$3" "$4"
}

# expect_zero NAME COUNTER...: each of these counters is 0.
expect_zero() {
	local name=$1 c
	shift
	for c in "$@"; do expect "$name" "$c" -eq 0; done
}

# ping_client ARGS...: ping6 from the client; prints how many replies came back.
ping_client() {
	local out
	out=$(lab_exec c ping -6 -n "$@" 2>&1)
	echo "$out" >>"$LAB_DIR/ping.log"
	echo "$out" | sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p'
}

# inject FILE MODE...: sends (modified) copies of a recorded message to the
# tool from the client namespace, from a port of its own, one per MODE.
inject() {
	lab_exec c python3 - "$TOOL_UL" 51820 "$TOOL_PUB" "$@" <<'EOF'
import base64, hashlib, socket, struct, sys

host, port, pub, path = sys.argv[1:5]
recorded = open(path, "rb").read()
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for mode in sys.argv[5:]:
    msg = bytearray(recorded)
    if mode == "bad-mac1":          # initiation: flip a bit of mac1
        msg[116] ^= 1
    elif mode == "bad-static":      # initiation: corrupt the encrypted static, fix mac1
        msg[40] ^= 1
        key = hashlib.blake2s(b"mac1----" + base64.b64decode(pub)).digest()
        msg[116:132] = hashlib.blake2s(bytes(msg[:116]), digest_size=16, key=key).digest()
    elif mode == "bad-tag":         # data: a fresh counter and a flipped tag bit
        counter = struct.unpack_from("<Q", msg, 8)[0] + 100000
        struct.pack_into("<Q", msg, 8, counter)
        msg[-1] ^= 1
    elif mode == "unknown-index":   # data: a receiver index the tool never gave out
        struct.pack_into("<I", msg, 4, struct.unpack_from("<I", msg, 4)[0] ^ 0xffffffff)
    elif mode == "oversize":        # data: a fresh counter, grown past what the tool takes
        counter = struct.unpack_from("<Q", msg, 8)[0] + 200000
        struct.pack_into("<Q", msg, 8, counter)
        msg += bytes(1500 - len(msg))
    elif mode == "short":           # a data header cut short
        msg = msg[:9]
    elif mode == "bad-type":
        msg[0] = 9
    elif mode != "raw":
        sys.exit("unknown mode " + mode)
    s.sendto(bytes(msg), (host, int(port)))
EOF
}

# step TEXT: marks the start of a case in the log, with the time so far.
step() { lab_log "--- $* (at ${SECONDS} s)"; }

step "(1) wireguard-go initiates, the tool responds and answers ping6"
client_peer "$TOOL_PUB"
tool_start resp --peer-public-key "$CLIENT_PUB" \
	--record-initiation "$LAB_DIR/initiation.bin" --record-data "$LAB_DIR/data.bin"
n=$(ping_client -c 5 -i 0.2 -W 3 "$TOOL_ADDR")
lab_check "1: wireguard-go initiates; ping6 -c 5 gets 5 echo replies from the tool (got ${n:-0})" \
	test "${n:-0}" -eq 5
tool_stats resp
expect resp initiations_received -eq 1
expect resp responses_sent -eq 1
expect resp handshakes_ok -eq 1
expect resp echo_requests_received -eq 5
expect resp echo_replies_sent -eq 5
expect resp decrypted_packets -ge 5
expect_zero resp refused_mac1 refused_static refused_unknown_peer refused_timestamp_replay \
	refused_bad_tag replayed_data inner_bad_checksum inner_malformed
hs=$(wg_handshake)
lab_check "1: wg show latest-handshakes is set (${hs:-0})" test "${hs:-0}" -gt 0
rx=$(wg show "$WGC" transfer | awk '{ print $2; exit }')
lab_check "1: wg show transfer: wireguard-go received ${rx:-0} bytes" test "${rx:-0}" -gt 0
lab_check "1: the tool recorded the initiation (148 bytes)" \
	test "$(stat -c %s "$LAB_DIR/initiation.bin" 2>/dev/null)" = 148

step "(5) a replayed initiation, and forged ones, against the live session"
# wireguard-go may send a keepalive meanwhile (10 s after it last received
# data): what must not change is the number of data packets with a payload.
payload_packets() { echo $(($(counter resp decrypted_packets) - $(counter resp keepalives_received))); }
before=$(payload_packets)
inject "$LAB_DIR/initiation.bin" raw bad-mac1 bad-static
step "(6) replayed, forged and garbage data"
# bad-tag twice: a packet that failed must not have entered the replay window.
# oversize: larger than the tool's tunnel MTU allows; refused by size before
# anything is decrypted into a buffer it would overrun.
inject "$LAB_DIR/data.bin" raw bad-tag bad-tag unknown-index short bad-type oversize
sleep 0.3
tool_stats resp
expect resp refused_timestamp_replay -eq 1
expect resp refused_mac1 -eq 1
expect resp refused_static -eq 1
expect resp responses_sent -eq 1
expect resp handshakes_ok -eq 1
expect resp replayed_data -eq 1
expect resp refused_bad_tag -eq 2
expect resp unknown_index -eq 1
expect resp rx_malformed -eq 3
after=$(payload_packets)
lab_check "5/6: no injected packet was decrypted ($before then $after with a payload)" \
	test "$after" -eq "$before"
expect resp echo_requests_received -eq 5
expect resp echo_replies_sent -eq 5
n=$(ping_client -c 3 -i 0.2 -W 2 "$TOOL_ADDR")
lab_check "5/6: the session survives replays and forgeries, no roaming to the forger (${n:-0} of 3)" \
	test "${n:-0}" -eq 3
tool_stop resp
expect resp echo_replies_sent -eq 8
expect resp handshakes_ok -eq 1

step "(2) the tool initiates to a wireguard-go responder and pings its kernel"
client_peer "$TOOL_PUB"
mark=$(wg_mark)
tool_run init --peer-public-key "$CLIENT_PUB" --endpoint "[$CLIENT_UL]:51821" --initiate \
	--ping "$CLIENT_ADDR" --count 5 --timeout 20
rc=$?
lab_check "2: the tool initiates; 5 of 5 echo replies from the client's kernel (exit $rc)" test $rc -eq 0
expect init initiations_sent -eq 1
expect init handshakes_ok -eq 1
expect init keepalives_sent -ge 1
expect init echo_requests_sent -eq 5
expect init echo_replies_received -eq 5
expect_zero init refused_response inner_bad_checksum replayed_data refused_bad_tag
hs=$(wg_handshake)
lab_check "2: wg show latest-handshakes is set (${hs:-0})" test "${hs:-0}" -gt 0
lab_check "2: wireguard-go logged the tool's key-confirmation keepalive" \
	wg_logged "$mark" "Receiving keepalive packet"

step "(3) preshared keys"
client_peer "$TOOL_PUB" "$LAB_DIR/good.psk"
tool_start psk --peer-public-key "$CLIENT_PUB" --psk "$LAB_DIR/good.psk"
n=$(ping_client -c 3 -i 0.2 -W 3 "$TOOL_ADDR")
lab_check "3: same PSK, wireguard-go initiates: 3 of 3 replies (got ${n:-0})" test "${n:-0}" -eq 3
tool_stop psk
expect psk handshakes_ok -eq 1
expect psk echo_replies_sent -eq 3

client_peer "$TOOL_PUB" "$LAB_DIR/good.psk"
tool_run pski --peer-public-key "$CLIENT_PUB" --psk "$LAB_DIR/good.psk" \
	--endpoint "[$CLIENT_UL]:51821" --initiate --ping "$CLIENT_ADDR" --count 3 --timeout 20
rc=$?
lab_check "3: same PSK, the tool initiates: 3 of 3 replies (exit $rc)" test $rc -eq 0
expect pski echo_replies_received -eq 3

# The initiator is the side that detects a wrong PSK: the psk is mixed in only
# at the response, so the responder accepts the initiation and answers, and
# the response then fails to authenticate at the initiator.
client_peer "$TOOL_PUB" "$LAB_DIR/good.psk"
tool_run pskw --peer-public-key "$CLIENT_PUB" --psk "$LAB_DIR/wrong.psk" \
	--endpoint "[$CLIENT_UL]:51821" --initiate --ping "$CLIENT_ADDR" --count 1 --timeout 3
rc=$?
lab_check "3: wrong PSK at the initiating tool: no session, exit 1 (exit $rc)" test $rc -eq 1
expect pskw initiations_sent -ge 1
expect pskw responses_received -ge 1
expect pskw refused_response -eq "$(counter pskw responses_received)"
expect_zero pskw handshakes_ok has_session echo_requests_sent echo_replies_received
hs=$(wg_handshake)
lab_check "3: wireguard-go completed no handshake either (${hs:-0})" test "${hs:-0}" -eq 0

client_peer "$TOOL_PUB" "$LAB_DIR/wrong.psk"
mark=$(wg_mark)
tool_start pskr --peer-public-key "$CLIENT_PUB" --psk "$LAB_DIR/good.psk"
n=$(ping_client -c 2 -i 0.5 -W 1 "$TOOL_ADDR")
lab_check "3: wrong PSK at initiating wireguard-go: ping fails (${n:-0} replies)" test "${n:-0}" -eq 0
tool_stop pskr
expect pskr initiations_received -ge 1
expect pskr responses_sent -ge 1 # a responder cannot detect the wrong psk
expect_zero pskr handshakes_ok has_session decrypted_packets echo_replies_sent
hs=$(wg_handshake)
lab_check "3: wireguard-go refused the response: no handshake (${hs:-0})" test "${hs:-0}" -eq 0
lab_check "3: wireguard-go logged the tool's response as invalid" \
	wg_logged "$mark" "Received invalid response message"

step "(4) wrong peer keys"
client_peer "$TOOL_PUB"
tool_start peer --peer-public-key "$OTHER_PUB"
n=$(ping_client -c 2 -i 0.5 -W 1 "$TOOL_ADDR")
lab_check "4: the tool expects another peer: ping fails (${n:-0} replies)" test "${n:-0}" -eq 0
tool_stop peer
expect peer initiations_received -ge 1
expect peer refused_unknown_peer -eq "$(counter peer initiations_received)"
expect_zero peer refused_mac1 refused_static responses_sent handshakes_ok

# wireguard-go holds a wrong public key for the tool: its mac1 is keyed for another key.
client_peer "$OTHER_PUB"
tool_start mac1 --peer-public-key "$CLIENT_PUB"
n=$(ping_client -c 2 -i 0.5 -W 1 "$TOOL_ADDR")
lab_check "4: wireguard-go has a wrong key for the tool: ping fails (${n:-0} replies)" test "${n:-0}" -eq 0
tool_stop mac1
expect mac1 initiations_received -ge 1
expect mac1 refused_mac1 -eq "$(counter mac1 initiations_received)"
expect_zero mac1 responses_sent handshakes_ok

step "(7) under load: a cookie reply first, then an initiation with mac2"
client_peer "$TOOL_PUB"
mark=$(wg_mark)
tool_start load --peer-public-key "$CLIENT_PUB" --under-load
# wireguard-go resends its initiation, now with mac2, after REKEY_TIMEOUT (5 s).
n=$(ping_client -c 1 -W 10 "$TOOL_ADDR")
lab_check "7: under load, the handshake completes with a cookie (${n:-0} of 1)" test "${n:-0}" -eq 1
tool_stop load
expect load cookie_replies_sent -ge 1
expect load responses_sent -eq 1
expect load handshakes_ok -eq 1
expect load echo_replies_sent -eq 1
expect_zero load refused_mac1 refused_ratelimit
lab_check "7: wireguard-go received the tool's cookie reply" \
	wg_logged "$mark" "Receiving cookie response"
lab_check "7: ... and decrypted it" wg_not_logged "$mark" "Could not decrypt invalid cookie response"

# With a sanitizer build (SG_BUILD_DIR=build-asan), any report fails the test.
no_sanitizer_report() { ! grep -l "Sanitizer\|runtime error" "$LAB_DIR"/*.log; }
lab_check "no sanitizer report in the tool's logs" no_sanitizer_report

[ "$LAB_FAILS" -eq 0 ] || lab_die "$LAB_FAILS checks failed (see $LAB_DIR/checks.log)"
lab_log "all interop checks passed"
