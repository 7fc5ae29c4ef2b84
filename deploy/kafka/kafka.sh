#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) from the official Maven Central jars.
#
#   kafka.sh fetch   resolve the broker jars with Maven (once; cached in .local/kafka/libs)
#   kafka.sh start   format storage if needed, start the broker, wait until it serves
#   kafka.sh stop    stop the broker started from the same KAFKA_PORT, by its pid file
#   kafka.sh status  exit 0 if that broker is running
#
# Environment (all optional): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1),
# KAFKA_STATE_DIR (.local/kafka/node-$KAFKA_PORT), KAFKA_HEAP (1g),
# KAFKA_START_TIMEOUT (90 seconds).
# Why a script and not Docker: the development machines and CI have Java 17 but no
# container engine; docker-compose.yml uses the official image for the same broker.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
libs="$root/.local/kafka/libs"
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
state=${KAFKA_STATE_DIR:-$root/.local/kafka/node-$port}
heap=${KAFKA_HEAP:-1g}
timeout_s=${KAFKA_START_TIMEOUT:-90}
pidfile="$state/kafka.pid"

log() { echo "[kafka] $*" >&2; }

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  log "resolving Kafka jars from Maven Central into $libs (first run only) ..."
  mkdir -p "$libs"
  mvn -B -q -f "$root/deploy/kafka/pom.xml" -Dstyle.color=never dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  ls "$libs"/kafka_2.13-*.jar >/dev/null || { log "no kafka_2.13 jar after mvn"; exit 1; }
  touch "$libs/.complete"
  log "$(ls "$libs" | wc -l) jars ready"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  fetch
  if running; then log "already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return 0; fi
  if port_open "$port"; then log "port $port is taken by another process"; exit 1; fi
  command -v java >/dev/null || { log "java not found: install a Java 17 runtime"; exit 1; }
  mkdir -p "$state/data" "$state/logs"
  sed -e "s#@PORT@#$port#g" -e "s#@CPORT@#$cport#g" -e "s#@DATA@#$state/data#g" \
    "$root/deploy/kafka/server.properties.in" > "$state/server.properties"
  if [ ! -f "$state/data/meta.properties" ]; then
    log "formatting storage in $state/data"
    java -cp "$libs/*" -Dlog4j2.configurationFile="$root/deploy/kafka/log4j2.properties" \
      -Dkafka.logs.dir="$state/logs" kafka.tools.StorageTool format \
      -t "$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)" \
      -c "$state/server.properties" >"$state/logs/format.log" 2>&1 \
      || { cat "$state/logs/format.log" >&2; exit 1; }
  fi
  log "starting broker on 127.0.0.1:$port (controller $cport), logs in $state/logs"
  nohup java -Xms256m -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dkafka.logs.dir="$state/logs" \
    -Dlog4j2.configurationFile="$root/deploy/kafka/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$state/server.properties" \
    >"$state/logs/stdout.log" 2>&1 &
  echo $! >"$pidfile"
  for ((i = 0; i < timeout_s * 2; i++)); do
    if ! running; then log "broker exited during start-up:"; tail -n 30 "$state/logs/stdout.log" >&2; exit 1; fi
    if port_open "$port"; then log "ready after $((i / 2)) s (pid $(cat "$pidfile"))"; return 0; fi
    sleep 0.5
  done
  log "broker did not open port $port within $timeout_s s"; tail -n 30 "$state/logs/stdout.log" >&2
  stop; exit 1
}

stop() {
  if ! running; then log "not running (port $port)"; rm -f "$pidfile"; return 0; fi
  pid=$(cat "$pidfile")
  log "stopping broker pid $pid"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }; sleep 0.5; done
  log "broker did not stop in 30 s; killing"; kill -9 "$pid" 2>/dev/null || true; rm -f "$pidfile"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) running ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
