#!/usr/bin/env bash
# Stop the private Cyrus instance started by start-cyrus.sh <dir>.
#   stop-cyrus.sh <dir> [--wipe]     (--wipe also deletes <dir>)
set -euo pipefail
DIR=${1:?usage: $0 <dir> [--wipe]}
PIDFILE="$DIR/run/master.pid"
# Running = exists and is not a zombie (see stop-dovecot.sh).
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
    CHILDREN=$(pgrep -P "$PID" || true)   # imapd processes; one serving a client may outlive the master
    kill -TERM "$PID"              # the master terminates its imapd children and exits
    for _ in $(seq 1 500); do alive "$PID" || break; sleep 0.01; done
    if alive "$PID"; then echo "pid $PID still alive, sending KILL" >&2; kill -KILL "$PID"; fi
    echo "stopped cyrus master pid $PID"
  else
    echo "stale pid file ($PID not running)"
  fi
  rm -f "$PIDFILE"
else
  echo "no pid file in $DIR/run; nothing to stop"
fi
# A stopped server must drop every connection, as a real restart does: end the master's former
# children (by pid, only if they still run this instance's config).
CONF="$(cd "$DIR" 2>/dev/null && pwd)/etc/imapd.conf"
for CHILD in ${CHILDREN:-}; do
  if alive "$CHILD" && tr '\0' ' ' <"/proc/$CHILD/cmdline" 2>/dev/null | grep -qF -- "-C $CONF"; then
    kill -KILL "$CHILD" 2>/dev/null || true
  fi
done
if [ "${2:-}" = "--wipe" ]; then rm -rf "$DIR"; echo "removed $DIR"; fi
