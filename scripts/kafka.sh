#!/usr/bin/env bash
# Provision and run a real single-node Apache Kafka 4.x broker (KRaft) from its jars on Maven Central.
#
#   scripts/kafka.sh provision          download the jars once into $CALLSCOPE_CACHE/kafka-<version>/libs
#   scripts/kafka.sh start [DIR]        format fresh storage under DIR, start the broker on free loopback ports,
#                                       wait until it answers; prints KAFKA_BROKERS=host:port and leaves DIR/pid
#   scripts/kafka.sh stop DIR           stop the broker started with DIR (TERM, then KILL after 30 s)
#   scripts/kafka.sh kill DIR           kill -9 it, as a crash would
#   scripts/kafka.sh resume DIR         start it again on the same storage and port
#
# When sourced, it defines kafka_provision, kafka_start and kafka_stop for scripts/test.
set -euo pipefail

KAFKA_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CALLSCOPE_CACHE="${CALLSCOPE_CACHE:-/var/cache/callscope}"
KAFKA_VERSION="$(sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' "$KAFKA_SCRIPT_DIR/kafka/pom.xml")"
KAFKA_HOME="$CALLSCOPE_CACHE/kafka-$KAFKA_VERSION"

kafka_log() { echo "kafka: $*" >&2; }

kafka_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

kafka_provision() {
  command -v java >/dev/null || { kafka_log "java (17+) is required to run the broker and was not found"; return 1; }
  command -v mvn >/dev/null || { kafka_log "maven is required to fetch the broker's jars and was not found"; return 1; }
  if [ -f "$KAFKA_HOME/libs/.complete" ]; then return 0; fi
  kafka_log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_HOME/libs (once)"
  rm -rf "$KAFKA_HOME/libs.tmp"
  mkdir -p "$KAFKA_HOME"
  mvn -B -q -f "$KAFKA_SCRIPT_DIR/kafka/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs.tmp" >&2
  ls "$KAFKA_HOME/libs.tmp"/kafka_2.13-*.jar >/dev/null
  rm -rf "$KAFKA_HOME/libs"
  mv "$KAFKA_HOME/libs.tmp" "$KAFKA_HOME/libs"
  touch "$KAFKA_HOME/libs/.complete"
}

# kafka_start DIR: sets KAFKA_BROKERS and KAFKA_PID.
kafka_start() {
  local dir="$1"
  kafka_provision
  mkdir -p "$dir"
  local bport cport cp id
  bport="$(kafka_free_port)"; cport="$(kafka_free_port)"
  while [ "$cport" = "$bport" ]; do cport="$(kafka_free_port)"; done
  sed -e "s#@LOGDIRS@#$dir/data#" -e "s#@BROKER_PORT@#$bport#g" -e "s#@CONTROLLER_PORT@#$cport#g" \
    "$KAFKA_SCRIPT_DIR/kafka/server.properties.in" > "$dir/server.properties"
  cp="$KAFKA_HOME/libs/*"
  local tools="-Dlog4j2.configurationFile=$KAFKA_SCRIPT_DIR/kafka/log4j2-tools.properties"
  id="$(java -Xmx256M "$tools" -cp "$cp" kafka.tools.StorageTool random-uuid)"
  java -Xmx256M "$tools" -cp "$cp" kafka.tools.StorageTool format --standalone -t "$id" \
    -c "$dir/server.properties" > "$dir/format.out" 2>&1 || { cat "$dir/format.out" >&2; kafka_log "storage format failed"; return 1; }
  java -Xms256M -Xmx768M -XX:+UseG1GC -Djava.awt.headless=true -Dkafka.logs.dir="$dir/logs" \
    "-Dlog4j2.configurationFile=$KAFKA_SCRIPT_DIR/kafka/log4j2.properties" \
    -cp "$cp" kafka.Kafka "$dir/server.properties" > "$dir/kafka.out" 2>&1 &
  KAFKA_PID=$!
  echo "$KAFKA_PID" > "$dir/pid"
  echo "$bport" > "$dir/port"
  # The broker listener opens only once the broker is unfenced (SocketServer defers its acceptor), so a TCP
  # connect on it means ready.
  local i
  for i in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$bport") 2>/dev/null; then
      KAFKA_BROKERS="127.0.0.1:$bport"
      kafka_log "broker $KAFKA_VERSION ready at $KAFKA_BROKERS (pid $KAFKA_PID, after ${i}x0.5s)"
      return 0
    fi
    if ! kill -0 "$KAFKA_PID" 2>/dev/null; then
      tail -n 40 "$dir/kafka.out" >&2
      kafka_log "broker exited during start-up; its output is above and in $dir/kafka.out"
      return 1
    fi
    sleep 0.5
  done
  tail -n 40 "$dir/kafka.out" >&2
  kafka_log "broker did not answer on 127.0.0.1:$bport within 60 s"
  kafka_stop "$dir"
  return 1
}

# kafka_resume DIR: start a stopped broker again on its formatted storage and port (for restart tests).
kafka_resume() {
  local dir="$1" bport cp
  bport="$(cat "$dir/port")"
  cp="$KAFKA_HOME/libs/*"
  java -Xms256M -Xmx768M -XX:+UseG1GC -Djava.awt.headless=true -Dkafka.logs.dir="$dir/logs" \
    "-Dlog4j2.configurationFile=$KAFKA_SCRIPT_DIR/kafka/log4j2.properties" \
    -cp "$cp" kafka.Kafka "$dir/server.properties" >> "$dir/kafka.out" 2>&1 &
  echo $! > "$dir/pid"
  local i
  for i in $(seq 1 120); do
    (exec 3<>"/dev/tcp/127.0.0.1/$bport") 2>/dev/null && return 0
    sleep 0.5
  done
  kafka_log "broker did not come back on 127.0.0.1:$bport"; return 1
}

kafka_stop() {
  local dir="$1" pid i
  [ -f "$dir/pid" ] || return 0
  pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kafka_log "broker $pid ignored TERM for 30 s; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$dir/pid"
}

# kafka_kill DIR: kill -9 the broker, as a crash would.
kafka_kill() {
  local dir="$1" pid
  [ -f "$dir/pid" ] || return 0
  pid="$(cat "$dir/pid")"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$dir/pid"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    provision) kafka_provision ;;
    start) d="${2:-$(mktemp -d /tmp/callscope-kafka.XXXXXX)}"; kafka_start "$d"; echo "KAFKA_BROKERS=$KAFKA_BROKERS"; echo "KAFKA_DIR=$d" ;;
    resume) kafka_resume "$2" ;;
    stop) kafka_stop "$2" ;;
    kill) kafka_kill "$2" ;;
    *) echo "usage: $0 provision | start [DIR] | resume DIR | stop DIR | kill DIR" >&2; exit 2 ;;
  esac
fi
