#!/usr/bin/env bash
# Stop the private Dovecot instance started by start-dovecot.sh <dir>.
#   stop-dovecot.sh <dir> [--wipe]     (--wipe also deletes <dir>)
set -euo pipefail
DIR=${1:?usage: $0 <dir> [--wipe]}
PIDFILE="$DIR/run/master.pid"
# Running = exists and is not a zombie (a daemonized master is reaped by whatever PID 1 is,
# which in some containers takes its time; kill -0 succeeds on zombies).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    local state; state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null || echo Z)
    [ "$state" != Z ] && [ "$state" != X ]
  fi
}
if [ -f "$PIDFILE" ]; then
  PID=$(cat "$PIDFILE")
  if alive "$PID"; then
    kill -TERM "$PID"              # the master stops all its children (takes ~1 s: it keeps its log process a while)
    for _ in $(seq 1 500); do alive "$PID" || break; sleep 0.01; done
    if alive "$PID"; then echo "pid $PID still alive, sending KILL" >&2; kill -KILL "$PID"; fi
    echo "stopped dovecot pid $PID"
  else
    echo "stale pid file ($PID not running)"
  fi
  rm -f "$PIDFILE"
else
  echo "no pid file in $DIR/run; nothing to stop"
fi
# Session processes (imap, imap-login) can outlive the master here; a stopped server must drop
# every connection, as a real restart does. They are named after the instance: <instance_name>/<service>.
CONF="$DIR/etc/dovecot.conf"
if [ -f "$CONF" ]; then
  NAME=$(sed -n 's/^instance_name = //p' "$CONF")
  if [ -n "$NAME" ]; then
    pkill -KILL -f "^dovecot-$NAME/" 2>/dev/null || true
    pkill -KILL -f "^$NAME/" 2>/dev/null || true
  fi
fi
if [ "${2:-}" = "--wipe" ]; then rm -rf "$DIR"; echo "removed $DIR"; fi
