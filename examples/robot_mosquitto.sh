#!/usr/bin/env bash
# The robot and the agent as two processes talking through a private Mosquitto broker.
#
#   bash examples/robot_mosquitto.sh [seconds]
#
# Needs Debian's `mosquitto` (apt-get install mosquitto mosquitto-clients). The broker runs on a
# free port with its own config and password file in a temp dir, never the system service.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-10}"
PY="${PYTHON:-.venv/bin/python}"
DIR="$(mktemp -d)"
PORT="$("$PY" -c 'from liveloop.robots.broker import free_port; print(free_port())')"
export LIVELOOP_MQTT_PASSWORD="$(head -c 12 /dev/urandom | base64)"
mosquitto_passwd -b -c "$DIR/passwd" liveloop "$LIVELOOP_MQTT_PASSWORD"
cat > "$DIR/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous false
password_file $DIR/passwd
persistence false
$( [ "$(id -u)" = 0 ] && echo "user root" )
CONF
mosquitto -c "$DIR/mosquitto.conf" & BROKER=$!
trap 'kill $BROKER 2>/dev/null; rm -rf "$DIR"' EXIT
sleep 0.3
# the agent starts the simulated robot itself (liveloop robot sim) and closes the loop
"$PY" -m liveloop robot --broker "mqtt://liveloop@127.0.0.1:$PORT" --duration "$SECONDS_TO_RUN" --sim-report "$DIR/sim.json"
"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print('robot loop:', d['loop']); print('robot transitions:', [t['reason'] for t in d['transitions']])" "$DIR/sim.json"
