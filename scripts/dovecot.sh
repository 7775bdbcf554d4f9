#!/usr/bin/env bash
# A throwaway IMAP server on 127.0.0.1 for the mail tests: `start` installs Debian's dovecot-imapd
# when it is missing and runs a private dovecot (config, mail and sockets under /tmp, one
# passwd-file user, a free port); `stop` ends it and removes everything again.
# The system's own dovecot service is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
ENV_DIR="$PWD/.dovecot"
DIR="${CHATDESK_TEST_IMAP_DIR:-/tmp/chatdesk-dovecot-$(id -u)-$(echo "$PWD" | md5sum | cut -c1-8)}"
IMAP_USER="support"
IMAP_PASS="test-password"

install_dovecot() {
  echo "dovecot not found: installing dovecot-imapd from Debian packages"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  # The package's own system service (ports 143/993) must not start: a policy-rc.d that says no,
  # for the length of the install, unless the machine already has one.
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then
    $sudo sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy" && added=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dovecot-imapd >/dev/null || { [ -n "$added" ] && $sudo rm -f "$policy"; return 1; }
  [ -n "$added" ] && $sudo rm -f "$policy"
  return 0
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || install_dovecot
  local bin
  bin="$(command -v dovecot || echo /usr/sbin/dovecot)"
  stop_quietly
  mkdir -p "$DIR/run" "$DIR/state" "$DIR/home" "$ENV_DIR"
  local port mail_user internal_user
  port="$(free_port)"
  if [ "$(id -u)" -eq 0 ]; then
    # dovecot will not keep mail as root: the mail belongs to the package's unprivileged users.
    internal_user="dovecot"; mail_user="dovenull"
    id "$internal_user" >/dev/null 2>&1 || useradd --system --no-create-home "$internal_user"
    id "$mail_user" >/dev/null 2>&1 || useradd --system --no-create-home "$mail_user"
    chown "$mail_user" "$DIR/home"
  else
    internal_user="$(id -un)"; mail_user="$(id -un)"
  fi
  echo "$IMAP_USER:{PLAIN}$IMAP_PASS::::::" > "$DIR/passwd"
  chmod 644 "$DIR/passwd"
  cat > "$DIR/dovecot.conf" <<EOF
base_dir = $DIR/run
state_dir = $DIR/state
log_path = $DIR/log
instance_name = chatdesk-test-$port
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = $internal_user
default_login_user = $internal_user
first_valid_uid = 0
mail_location = maildir:$DIR/home/%u/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DIR/passwd
}
userdb {
  driver = static
  args = uid=$(id -u "$mail_user") gid=$(id -g "$mail_user") home=$DIR/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
protocol imap {
  mail_max_userip_connections = 100
}
EOF
  "$bin" -c "$DIR/dovecot.conf"
  for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null && break
    sleep 0.1
  done
  cat > "$ENV_DIR/env" <<EOF
export TEST_IMAP_HOST=127.0.0.1
export TEST_IMAP_PORT=$port
export TEST_IMAP_USER=$IMAP_USER
export TEST_IMAP_PASSWORD=$IMAP_PASS
EOF
  echo "dovecot $("$bin" --version | awk '{print $1}') running on 127.0.0.1:$port"
}

stop_quietly() {
  if [ -f "$DIR/run/master.pid" ]; then
    kill "$(cat "$DIR/run/master.pid")" 2>/dev/null || true
    for _ in $(seq 30); do [ -f "$DIR/run/master.pid" ] || break; sleep 0.1; done
  fi
  rm -rf "$DIR" "$ENV_DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop_quietly ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
