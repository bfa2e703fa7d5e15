#!/usr/bin/env bash
# Start a private, throw-away Dovecot IMAP server for ProtonLumoAI's integration tests.
#
#   start-dovecot.sh <dir> <port>
#
# Everything lives under <dir>: config, base_dir (sockets, master.pid), state_dir, TLS
# cert (<dir>/tls/cert.pem, pin it), mail (<dir>/mail/<user>), IMAP rawlogs, log.
# Listens on 127.0.0.1 only; STARTTLS with a freshly generated self-signed cert
# (IP SAN 127.0.0.1).  No systemd, nothing in /etc changes.  Works as root and non-root.
#
# Any username logs in with the single password $IMAP_PASS; each username gets its own
# empty mailbox under <dir>/mail/<user>, so every test can use a fresh user.
#
# Env:
#   IMAP_PASS    password accepted for every user (default test-password)
#   CAPS         post-login capabilities:
#                  bridge            IMAP4rev1 IDLE UNSELECT UIDPLUS MOVE ID (Proton Bridge/gluon)
#                  nomove            IMAP4rev1 IDLE UNSELECT UIDPLUS ID
#                  nomove-nouidplus  IMAP4rev1 IDLE UNSELECT ID
#                  full (default)    Dovecot's own set
#                (PROTON_CAPS=1 is accepted as an alias for CAPS=bridge.)
#                Dovecot only changes what it ADVERTISES: it still executes MOVE / UID EXPUNGE
#                when they are not advertised.  Use the rawlog (below) to check a client
#                did not send them.
#   FSYNC        never|optimized|always (default never: fast, fine for throw-away tests)
#   MAIL_FORMAT  sdbox|maildir (default sdbox; maildir uses LAYOUT=fs)
#   MAIL_USER/MAIL_GROUP  only as root: who owns the mail (default nobody/nogroup)
#   LAYOUT       folder namespace (not to be confused with Maildir's LAYOUT=fs storage option):
#                  bridge (default)  separator "/", no prefix: INBOX, Spam, Folders/Work (Proton Bridge)
#                  dotted            separator ".", prefix "INBOX.": INBOX, INBOX.Spam,
#                                    INBOX.Folders.Work (Cyrus' default; Courier and many hosted
#                                    Dovecots).  Combine with CAPS=full for a stock server.
#                In the dotted layout (measured with Dovecot 2.3.19, sdbox and maildir alike):
#                  NAMESPACE (("INBOX." ".")) NIL NIL
#                  LIST "" "*" -> INBOX (\HasChildren), INBOX.Drafts (\Drafts), INBOX.Sent,
#                    INBOX.Starred (\Flagged), INBOX.Archive, INBOX.Spam (\Junk), INBOX.Trash,
#                    "INBOX.All Mail" (\All), INBOX.Folders, INBOX.Labels; delimiter "."
#                  LIST "" "%" -> INBOX only: every other folder is INBOX's child.
#                  "/" is not allowed in a name: "NO [CANNOT] Character not allowed in mailbox
#                    name: '/'" (it is the storage's own separator; Cyrus refuses it too).
#                  A name outside the prefix ("Spam", "Folders.X"): "NO Client tried to access
#                    nonexistent namespace. (Mailbox name should probably be prefixed with: INBOX.)"
#                    (imapflow adds the prefix itself to a path that lacks it.)
#                  CREATE INBOX.Folders.A.B makes INBOX.Folders.A a \Noselect parent, as "/" does
#                    in the bridge layout; "." is the separator, so a name cannot contain one.
#
# Rawlog: the decrypted post-login IMAP traffic of every session is written to
# <dir>/rawlog/<user>/*.in (client -> server) and *.out.
set -euo pipefail

DIR=${1:?usage: $0 <dir> <port>}
PORT=${2:?usage: $0 <dir> <port>}
IMAP_PASS=${IMAP_PASS:-test-password}
FSYNC=${FSYNC:-never}
MAIL_FORMAT=${MAIL_FORMAT:-sdbox}
CAPS=${CAPS:-full}
LAYOUT=${LAYOUT:-bridge}
[ "${PROTON_CAPS:-0}" = 1 ] && CAPS=bridge

case "$CAPS" in
  bridge)           CAPS_LINE="imap_capability = IMAP4rev1 IDLE UNSELECT UIDPLUS MOVE ID" ;;
  nomove)           CAPS_LINE="imap_capability = IMAP4rev1 IDLE UNSELECT UIDPLUS ID" ;;
  nomove-nouidplus) CAPS_LINE="imap_capability = IMAP4rev1 IDLE UNSELECT ID" ;;
  full|"")          CAPS_LINE="" ;;
  *) echo "unknown CAPS=$CAPS (bridge|nomove|nomove-nouidplus|full)" >&2; exit 2 ;;
esac
case "$MAIL_FORMAT" in
  sdbox)   MAIL_LOCATION="sdbox:~/sdbox" ;;
  maildir) MAIL_LOCATION="maildir:~/Maildir:LAYOUT=fs:INBOX=~/Maildir/INBOX" ;;
  *) echo "unknown MAIL_FORMAT=$MAIL_FORMAT (sdbox|maildir)" >&2; exit 2 ;;
esac
case "$FSYNC" in never|optimized|always) ;; *) echo "unknown FSYNC=$FSYNC" >&2; exit 2 ;; esac
case "$LAYOUT" in
  bridge) NS_SEPARATOR="/"; NS_PREFIX="" ;;
  dotted) NS_SEPARATOR="."; NS_PREFIX="INBOX." ;;
  *) echo "unknown LAYOUT=$LAYOUT (bridge|dotted)" >&2; exit 2 ;;
esac

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONF="$DIR/etc/dovecot.conf"
BASE="$DIR/run"          # base_dir: master.pid + unix sockets (keep short: sun_path limit ~108 bytes)
STATE="$DIR/state"
TLS="$DIR/tls"
MAILROOT="$DIR/mail"
RAWLOG="$DIR/rawlog"

DOVECOT=$(command -v dovecot || true)
[ -n "$DOVECOT" ] || { [ -x /usr/sbin/dovecot ] && DOVECOT=/usr/sbin/dovecot; }
[ -n "$DOVECOT" ] && [ -x "$DOVECOT" ] || {
  echo "dovecot is not installed: run 'apt-get install dovecot-imapd' (Debian/Ubuntu)" >&2; exit 127; }

if [ -f "$BASE/master.pid" ] && kill -0 "$(cat "$BASE/master.pid")" 2>/dev/null; then
  echo "already running (pid $(cat "$BASE/master.pid"))" >&2; exit 1
fi

mkdir -p "$DIR/etc" "$BASE" "$STATE" "$TLS" "$MAILROOT" "$RAWLOG" "$DIR/log"

# --- users the processes run as -------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
  # Dovecot refuses to access mail as uid 0, and login/internal processes must be
  # unprivileged users that exist (dovecot-core creates dovecot + dovenull).
  MAIL_USER=${MAIL_USER:-nobody}
  MAIL_GROUP=${MAIL_GROUP:-nogroup}
  INTERNAL_USER=dovecot
  LOGIN_USER=dovenull
  chown "$MAIL_USER:$MAIL_GROUP" "$MAILROOT" "$RAWLOG"
  chmod 0755 "$DIR"
  # The mail user must be able to reach <dir>: every parent must be searchable.
  P=$(dirname "$DIR")
  while [ "$P" != / ]; do
    if ! setpriv --reuid="$MAIL_USER" --regid="$MAIL_GROUP" --clear-groups test -x "$P" 2>/dev/null; then
      echo "$MAIL_USER cannot enter $P (mode $(stat -c %a "$P")); make it o+x" >&2; exit 1
    fi
    P=$(dirname "$P")
  done
  NOCHROOT=0
else
  # Unprivileged run: every Dovecot process runs as the invoking user.
  MAIL_USER=$(id -un); MAIL_GROUP=$(id -gn)
  INTERNAL_USER=$MAIL_USER; LOGIN_USER=$MAIL_USER
  NOCHROOT=1   # imap-login/anvil chroot() needs root
fi
MAIL_UID=$(id -u "$MAIL_USER"); MAIL_GID=$(getent group "$MAIL_GROUP" | cut -d: -f3)

# --- fresh self-signed certificate (CN 127.0.0.1, SAN IP:127.0.0.1 + DNS:localhost) ---
# EC P-256: generated in a few ms, unlike RSA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -keyout "$TLS/key.pem" -out "$TLS/cert.pem" \
  -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1
chmod 0600 "$TLS/key.pem"
chmod 0644 "$TLS/cert.pem"

ANVIL_CHROOT=""; LOGIN_CHROOT=""
if [ "$NOCHROOT" = 1 ]; then
  ANVIL_CHROOT="chroot ="; LOGIN_CHROOT="chroot ="
fi

cat > "$CONF" <<EOF
# generated by start-dovecot.sh -- private test instance, do not use in production
instance_name = plai-imap-$PORT
base_dir = $BASE
state_dir = $STATE
protocols = imap
listen = 127.0.0.1
log_path = $DIR/log/dovecot.log
info_log_path = $DIR/log/dovecot.log

default_internal_user = $INTERNAL_USER
default_internal_group = $(id -gn "$INTERNAL_USER")
default_login_user = $LOGIN_USER
first_valid_uid = $MAIL_UID
last_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID
last_valid_gid = $MAIL_GID
mail_uid = $MAIL_UID
mail_gid = $MAIL_GID

ssl = yes
ssl_cert = <$TLS/cert.pem
ssl_key = <$TLS/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
ssl_min_protocol = TLSv1.2
# NOTE: Dovecot 2.3 treats loopback connections as "secured", so plaintext LOGIN without
# STARTTLS is accepted on 127.0.0.1.  The client must insist on STARTTLS itself.
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_verbose = yes
# wrong passwords fail at once instead of after the default 2 s
auth_failure_delay = 0

# Any username, one password; every user gets an isolated, empty mailbox.
passdb {
  driver = static
  args = password=$IMAP_PASS
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$MAILROOT/%u
}

mail_location = $MAIL_LOCATION
mail_fsync = $FSYNC
mail_plugins =
$CAPS_LINE

namespace inbox {
  type = private
  separator = $NS_SEPARATOR
  prefix =${NS_PREFIX:+ $NS_PREFIX}
  inbox = yes
  list = yes
  mailbox Drafts {
    auto = subscribe
    special_use = \\Drafts
  }
  mailbox Sent {
    auto = subscribe
    special_use = \\Sent
  }
  mailbox Starred {
    auto = subscribe
    special_use = \\Flagged
  }
  mailbox Archive {
    auto = subscribe
    special_use = \\Archive
  }
  mailbox Spam {
    auto = subscribe
    special_use = \\Junk
  }
  mailbox Trash {
    auto = subscribe
    special_use = \\Trash
  }
  mailbox "All Mail" {
    auto = subscribe
    special_use = \\All
  }
  mailbox Folders {
    auto = subscribe
  }
  mailbox Labels {
    auto = subscribe
  }
}

protocol imap {
  mail_max_userip_connections = 100
  imap_idle_notify_interval = 2 mins
  # decrypted post-login traffic, per user: <dir>/rawlog/<user>/*.in|*.out
  rawlog_dir = $RAWLOG/%u
}

service imap-login {
  $LOGIN_CHROOT
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service imap {
  process_limit = 256
}
service auth {
  unix_listener auth-userdb {
    mode = 0600
    user = $INTERNAL_USER
  }
}
service anvil {
  $ANVIL_CHROOT
  # Disable the auth penalty: auth finds no anvil-auth-penalty socket (ENOENT) and skips it.
  # Otherwise every wrong password after the first from 127.0.0.1 takes ~4.5 s.
  unix_listener anvil-auth-penalty {
    path = anvil-auth-penalty-disabled
  }
}
# no doveadm listener on TCP
service doveadm {
  inet_listener {
    port = 0
  }
}
EOF

T0=$(date +%s%N)
# The daemon must not inherit our stdout/stderr: a caller reading them to EOF would hang.
if ! "$DOVECOT" -c "$CONF" </dev/null >"$DIR/log/startup.log" 2>&1; then
  echo "dovecot refused to start:" >&2; cat "$DIR/log/startup.log" >&2; exit 1
fi
# wait until the port answers with an IMAP greeting (deadline 10 s)
READY=0
DEADLINE=$(( $(date +%s) + 10 ))
while [ "$(date +%s)" -lt "$DEADLINE" ]; do
  if exec 3<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then
    if read -r -t 1 greet <&3 && [[ "$greet" == "* OK"* ]]; then READY=1; fi
    exec 3>&- 3<&-
    [ "$READY" = 1 ] && break
  fi
  sleep 0.01
done
T1=$(date +%s%N)
if [ "$READY" != 1 ] || [ ! -f "$BASE/master.pid" ]; then
  echo "dovecot failed to start on 127.0.0.1:$PORT (no IMAP greeting within 10 s); log $DIR/log/dovecot.log:" >&2
  [ -f "$BASE/master.pid" ] && kill -TERM "$(cat "$BASE/master.pid")" 2>/dev/null || true
  tail -20 "$DIR/log/dovecot.log" >&2 || true
  exit 1
fi
echo "dovecot pid $(cat "$BASE/master.pid") on 127.0.0.1:$PORT (STARTTLS, caps=$CAPS, layout=$LAYOUT, $MAIL_FORMAT, fsync=$FSYNC) ready in $(( (T1-T0)/1000000 )) ms"
echo "config: $CONF  cert: $TLS/cert.pem  log: $DIR/log/dovecot.log"
