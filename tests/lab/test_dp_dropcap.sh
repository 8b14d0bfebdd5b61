#!/usr/bin/env bash
# "Why was my packet dropped?": /sixgate/capture_drops,FILE[,N] makes sixgate
# write the frames it drops to a pcapng file, each with its drop reason as a
# packet comment.  40 datagrams to a UDP port the gateway does not serve are
# 40 packets commented "udp_port: ..." (tshark reads the comments), every
# captured packet names a reason of lib/common/sg_drop.h, "off" ends it, and
# the drop counters move as without a capture.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpdrop

M=40
FILE=$LAB_DIR/drops.pcapng
dp_basic_gw
lab_wait_for 10 lab_exec c1 ping -6 -c1 -W1 "$DP_GW6" || lab_die "no ping to the gateway"
before=$(dp_drop udp_port)
dp_tel "/sixgate/capture_drops,$FILE,1000" >"$LAB_DIR/start.json"
lab_check "capture started" grep -q '"capturing": 1' "$LAB_DIR/start.json"
lab_check "a second capture into the same file is refused" sh -c \
	"echo '/sixgate/capture_drops,$FILE' | timeout 10 dpdk-telemetry.py -f '$DP_PREFIX' | grep -q null"
lab_exec c1 /usr/bin/python3 -c "
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range($M):
    s.sendto(b'why am I dropped? %d' % i, ('$DP_GW6', 9999))
    time.sleep(0.01)"
sleep 1
dp_tel "/sixgate/capture_drops,off" >/dev/null
lab_check "the capture ended on off" lab_wait_for 10 grep -q "drop capture: [0-9]* frames in $FILE" "$LAB_DIR/sixgate.log"
after=$(dp_drop udp_port)
lab_check "udp_port moved by exactly $M" test $((after - before)) -eq "$M"
n=$(tshark -r "$FILE" -Y 'frame.comment contains "udp_port: UDP destination is not the listen port"' 2>/dev/null | wc -l)
lab_log "$n packets commented udp_port; all: $(capinfos -M -c -T "$FILE" 2>/dev/null | awk 'NR==2 {print $2}')"
tshark -r "$FILE" -T fields -e frame.comment 2>/dev/null | sort | uniq -c | sed 's/^/    /' >&2
lab_check "exactly $M packets with the udp_port comment" test "$n" -eq "$M"
lab_check "... and they are our datagrams to port 9999" sh -c \
	"[ \"\$(tshark -r '$FILE' -Y 'udp.dstport == 9999 && frame.comment contains \"udp_port\"' 2>/dev/null | wc -l)\" = $M ]"
lab_check "every captured packet names a drop reason" sh -c \
	"! tshark -r '$FILE' -T fields -e frame.comment 2>/dev/null | grep -vE '^[a-z0-9_]+: .*; worker [0-9]+\$'"
dp_finish
