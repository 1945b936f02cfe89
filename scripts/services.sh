#!/usr/bin/env bash
# Backing services for tq's integration/interop tests (CI and local dev).
#
#   scripts/services.sh up [service...]     install what is missing, start what is not answering
#   scripts/services.sh down [service...]   stop what this script started (pid files in the state dir)
#   scripts/services.sh status [service...] one line per service: "name: up|down (url)"
#   scripts/services.sh env                 "export TQ_...=..." lines, for: eval "$(scripts/services.sh env)"
#   scripts/services.sh restart-redis       stop + start our Redis on the same port, wait until it answers
#   scripts/services.sh restart-rabbitmq    stop + start our RabbitMQ on the same port, wait until it answers
#
# Services: redis rabbitmq python pyvenv sqs mongo chromium (plain "up" = all of them).
# Everything listens on 127.0.0.1 only; data/logs/pids live in ${TQ_SERVICES_DIR:-/tmp/tq-services}.
# See docs/services.md.
set -Eeuo pipefail

SERVICES_ALL=(redis rabbitmq python pyvenv sqs mongo chromium)
STATE=${TQ_SERVICES_DIR:-/tmp/tq-services}
PY=/usr/bin/python3
CHROMIUM=/usr/bin/chromium
FAUXQS_VERSION=${TQ_FAUXQS_VERSION:-1.9.2}      # newest fauxqs that runs on Node 20 (2.x needs node:sqlite, Node >= 22.5)
FERRETDB_VERSION=${TQ_FERRETDB_VERSION:-v1.24.0}
PY_PKGS=(python3-celery python3-redis python3-amqp python3-kombu python3-pymongo python3-pycurl python3-venv libnss-myhostname)
# The virtual environment over Debian's Celery (--system-site-packages) for the peers whose Python
# side Debian ships too old: boto3 for kombu's SQS transport (Debian's botocore speaks the query
# protocol, which fauxqs refuses) and Flower 2. Pinned, so a run is the same on every machine.
VENV_PKGS=(boto3==1.35.99 botocore==1.35.99 s3transfer==0.10.4 jmespath==1.1.0 urllib3==2.8.0
  flower==2.0.1 tornado==6.6.1 humanize==4.17.0 prometheus_client==0.26.0)
VENV="$STATE/pyvenv"

# Deadlines (seconds). Every wait in this script has one.
REDIS_DEADLINE=30
RABBIT_DEADLINE=120
SQS_DEADLINE=30
MONGO_DEADLINE=30
STOP_DEADLINE=30
APT_DEADLINE=${TQ_APT_TIMEOUT:-1500}
NPM_DEADLINE=600
GO_DEADLINE=${TQ_GO_TIMEOUT:-1500}
LOCK_DEADLINE=1800

RUN="$STATE/run"

# ----------------------------------------------------------------------------- helpers

have() { command -v "$1" >/dev/null 2>&1; }
# output_has <ERE> <cmd...>: cmd's stdout matches. (Not "cmd | grep -q": with pipefail, grep -q exiting
# early can SIGPIPE the writer and turn a match into a failure.)
output_has() {
  local re=$1 out
  shift
  out=$("$@" 2>/dev/null) || true
  grep -Eq -- "$re" <<<"$out"
}
now_us() { local t=${EPOCHREALTIME:-$(date +%s).000000}; echo "${t//[.,]/}"; }
fmt_secs() { printf '%d.%ds' $(($1 / 1000000)) $((($1 / 100000) % 10)); }
log() { echo "$*"; }
die() { echo "ERROR: $*" >&2; exit 1; }

# die_log <service> <message> <logfile...>: loud failure with the last 30 lines of each log.
die_log() {
  local svc=$1 msg=$2 f
  shift 2
  {
    echo "ERROR: [$svc] $msg"
    for f in "$@"; do
      if [ -s "$f" ]; then
        echo "----- last 30 lines of $f -----"
        tail -n 30 "$f"
        echo "----- end of $f -----"
      fi
    done
  } >&2
  exit 1
}

# wait_until <seconds> <cmd...>: poll every 0.5s until cmd succeeds (0) or the deadline passes (1).
# A cmd exit status of 2 means "will never succeed" (e.g. the process died): stop waiting, return 2.
wait_until() {
  local secs=$1 end rc
  shift
  end=$(($(date +%s) + secs))
  while :; do
    if "$@"; then return 0; else rc=$?; fi
    [ "$rc" -eq 2 ] && return 2
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.5
  done
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
port_closed() { ! port_open "$1"; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# pid_matches <pidfile> <pattern>: the pid in the file is alive and its command line matches.
pid_matches() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(tr -dc '0-9' <"$1")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  output_has "$2" tr '\0' ' ' <"/proc/$pid/cmdline"
}

# stop_pidfile <name> <pidfile> <pattern>: TERM, wait, KILL. Only touches a pid whose cmdline matches.
stop_pidfile() {
  local name=$1 pidfile=$2 pattern=$3 pid
  if ! pid_matches "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(tr -dc '0-9' <"$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until "$STOP_DEADLINE" pid_gone "$pid"; then
    log "$name (pid $pid) ignored SIGTERM for ${STOP_DEADLINE}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 10 pid_gone "$pid" || die "$name: could not kill pid $pid"
  fi
  rm -f "$pidfile"
}

# Port of a service: env override > port recorded by the last successful start (while it runs) > default.
port_of() {
  local var def dir
  case $1 in
    redis) var=TQ_REDIS_PORT def=6379 dir=redis ;;
    rabbitmq) var=TQ_AMQP_PORT def=5672 dir=rabbitmq ;;
    sqs) var=TQ_SQS_PORT def=9324 dir=fauxqs ;;
    mongo) var=TQ_MONGO_PORT def=27017 dir=ferretdb ;;
  esac
  if [ -n "${!var:-}" ]; then
    echo "${!var}"
  elif [ -s "$STATE/$dir/port" ]; then
    tr -dc '0-9' <"$STATE/$dir/port"
  else
    echo "$def"
  fi
}

REDIS_PORT=$(port_of redis)
AMQP_PORT=$(port_of rabbitmq)
SQS_PORT=$(port_of sqs)
MONGO_PORT=$(port_of mongo)
RABBIT_NODE="tq${AMQP_PORT}@localhost"

REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
AMQP_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT//"
SQS_ENDPOINT="http://127.0.0.1:$SQS_PORT"
MONGO_URL="mongodb://127.0.0.1:$MONGO_PORT"

url_of() {
  case $1 in
    redis) echo "$REDIS_URL" ;;
    rabbitmq) echo "$AMQP_URL" ;;
    sqs) echo "$SQS_ENDPOINT" ;;
    mongo) echo "$MONGO_URL" ;;
    python) echo "$PY" ;;
    pyvenv) echo "$VENV/bin/python" ;;
    chromium) echo "$CHROMIUM" ;;
  esac
}

print_env() { # [prefix]
  local p=${1:-}
  echo "${p}TQ_REDIS_URL=$REDIS_URL"
  echo "${p}TQ_AMQP_URL=$AMQP_URL"
  echo "${p}TQ_SQS_ENDPOINT=$SQS_ENDPOINT"
  echo "${p}TQ_MONGO_URL=$MONGO_URL"
  echo "${p}TQ_PYTHON=$PY"
  echo "${p}TQ_PYTHON_VENV=$VENV/bin/python"
  echo "${p}TQ_CHROMIUM=$CHROMIUM"
}

# Refuse to start a second instance on another port while ours still runs on the recorded one.
check_port_conflict() { # <svc> <dir> <port> <pidfile> <pattern>
  local recorded
  [ -s "$STATE/$2/port" ] || return 0
  recorded=$(tr -dc '0-9' <"$STATE/$2/port")
  if [ "$recorded" != "$3" ] && pid_matches "$4" "$5"; then
    die "[$1] already running from $STATE on port $recorded, but port $3 was requested; run '$0 down $1' first"
  fi
}

# ----------------------------------------------------------------------------- apt

APT_UPDATED=0
apt_install() { # packages...
  [ $# -gt 0 ] || return 0
  local sudo=() created_policy=0 rc=0
  if [ "$(id -u)" -ne 0 ]; then
    have sudo || die "need to install Debian packages ($*) but not root and no sudo"
    sudo=(sudo -n)
  fi
  have apt-get || die "need Debian packages ($*) but apt-get is not available"
  if [ "$APT_UPDATED" != 1 ]; then
    log "apt-get update"
    timeout "$APT_DEADLINE" "${sudo[@]}" apt-get update -q || die "apt-get update failed"
    APT_UPDATED=1
  fi
  # Packages like redis-server/rabbitmq-server try to start a system instance (bound to the default
  # ports) from their postinst; we run our own instances, so forbid that while installing.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, created by tq scripts/services.sh\nexit 101\n' |
      "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null && "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d && created_policy=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive timeout "$APT_DEADLINE" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q -o DPkg::Lock::Timeout=300 "$@" || rc=$?
  if [ "$created_policy" = 1 ]; then "${sudo[@]}" rm -f /usr/sbin/policy-rc.d; fi
  [ "$rc" -eq 0 ] || die "apt-get install $* failed (exit $rc)"
}

rabbit_bin_dir() {
  # Debian's /usr/sbin/rabbitmq-* wrappers "su rabbitmq" when run as root (and cd /var/lib/rabbitmq);
  # call the real scripts so the node runs as the invoking user with our own dirs.
  if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    echo /usr/lib/rabbitmq/bin
  elif have rabbitmq-server; then
    dirname "$(readlink -f "$(command -v rabbitmq-server)")"
  fi
}

# ----------------------------------------------------------------------------- redis

redis_ping() {
  if have redis-cli; then
    [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
  else
    output_has PONG timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT; printf 'PING\r\n' >&3; head -c 5 <&3"
  fi
}

redis_start() {
  local d="$STATE/redis"
  mkdir -p "$d"
  check_port_conflict redis redis "$REDIS_PORT" "$d/redis.pid" redis-server
  if redis_ping; then
    log "already answering on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  have redis-server || die "[redis] redis-server not installed"
  rm -f "$d/redis.pid"
  [ -f "$d/redis.log" ] && mv -f "$d/redis.log" "$d/redis.log.prev"
  log "starting redis-server on 127.0.0.1:$REDIS_PORT"
  setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
    --pidfile "$d/redis.pid" --logfile "$d/redis.log" --dir "$d" \
    </dev/null >>"$d/redis.log" 2>&1 9>&- ||
    die_log redis "redis-server failed to start" "$d/redis.log"
  redis_wait() {
    redis_ping && return 0
    grep -qs -e 'aborting' -e 'FATAL' -e 'Fatal error' "$d/redis.log" && return 2
    return 1
  }
  wait_until "$REDIS_DEADLINE" redis_wait ||
    die_log redis "redis is not answering PING on 127.0.0.1:$REDIS_PORT (it exited, or no answer within ${REDIS_DEADLINE}s)" "$d/redis.log"
  echo "$REDIS_PORT" >"$d/port"
  log "up: $REDIS_URL"
}

redis_stop() {
  local d="$STATE/redis"
  if pid_matches "$d/redis.pid" redis-server; then
    log "stopping redis-server on port $REDIS_PORT"
    timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    stop_pidfile redis "$d/redis.pid" redis-server
  elif redis_ping; then
    log "redis on port $REDIS_PORT was not started by this script (no pid file in $d); leaving it alone"
  fi
  rm -f "$d/redis.pid" "$d/port"
}

up_redis() { redis_start; }

# ----------------------------------------------------------------------------- rabbitmq

rabbit_env() {
  local d="$STATE/rabbitmq"
  export HOME="$d" # the Erlang cookie lives in $HOME/.erlang.cookie
  export RABBITMQ_NODENAME="$RABBIT_NODE"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$AMQP_PORT"
  export RABBITMQ_MNESIA_BASE="$d/mnesia"
  export RABBITMQ_LOG_BASE="$d/log"
  export RABBITMQ_PID_FILE="$d/rabbitmq.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins"
  export RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf"
  export RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config"
  export ERL_CRASH_DUMP="$d/log/erl_crash.dump"
  # epmd, the node's distribution port (AMQP port + 20000) and the CLI tools' distribution ports:
  # loopback only.
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  unset RABBITMQ_ENABLED_PLUGINS RABBITMQ_DIST_PORT
}

rmq() { # <tool> args...: run a RabbitMQ CLI tool against our node
  local bin
  bin=$(rabbit_bin_dir)
  [ -n "$bin" ] || return 127
  (rabbit_env && cd "$STATE/rabbitmq" && exec timeout 30 "$bin/$1" "${@:2}") 9>&-
}

amqp_ok() { # the AMQP listener answers a protocol header with a Connection.Start frame (type 1)
  [ "$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$AMQP_PORT; printf 'AMQP\\0\\0\\11\\1' >&3; head -c 1 <&3" 2>/dev/null |
    od -An -tx1 | tr -d ' \n')" = 01 ]
}

# Is our node registered with epmd? (cheap, and unlike the CLI tools it never spawns epmd itself)
rabbit_node_registered() {
  output_has "^name ${RABBIT_NODE%@*} " bash -c 'ERL_EPMD_ADDRESS=127.0.0.1 epmd -names'
}

# Start epmd ourselves before any Erlang program runs: loopback only, no inherited fds (the first Erlang
# node or CLI tool would otherwise spawn it, holding whatever stdout/stderr it had). It is left running
# across node restarts on purpose; "down" kills it again if we started it and no node is registered.
ensure_epmd() {
  (rabbit_env && epmd -names >/dev/null 2>&1) && return 0
  have epmd || return 0 # erl will spawn it
  (rabbit_env && cd / && setsid epmd -daemon -address 127.0.0.1) </dev/null >/dev/null 2>&1 9>&- || true
  touch "$STATE/rabbitmq/epmd.started"
  wait_until 10 bash -c 'ERL_EPMD_ADDRESS=127.0.0.1 epmd -names >/dev/null 2>&1' || log "warning: epmd did not come up"
}

rabbit_boot_failed() {
  grep -qs -e 'BOOT FAILED' -e 'Error during startup' "$STATE/rabbitmq/log/$RABBIT_NODE.log" "$STATE/rabbitmq/startup.log"
}

rabbit_ready() {
  rabbit_boot_failed && return 2
  # The AMQP listener opens at the very end of boot; poll it cheaply (the CLI tools take ~1s per call)
  # and confirm with await_startup once it answers.
  amqp_ok || return 1
  rmq rabbitmqctl -q await_startup --timeout 20 >/dev/null 2>&1
}

rabbit_start() {
  local d="$STATE/rabbitmq" bin rc=0
  mkdir -p "$d/mnesia" "$d/log"
  check_port_conflict rabbitmq rabbitmq "$AMQP_PORT" "$d/rabbitmq.pid" beam
  if amqp_ok; then
    log "already answering on 127.0.0.1:$AMQP_PORT"
    return 0
  fi
  bin=$(rabbit_bin_dir)
  [ -n "$bin" ] || die "[rabbitmq] rabbitmq-server not installed"
  [ -f "$d/enabled_plugins" ] || echo '[].' >"$d/enabled_plugins" # no management/prometheus/... listeners
  [ -f "$d/rabbitmq-env.conf" ] || echo '# tq: intentionally empty (do not read /etc/rabbitmq/rabbitmq-env.conf)' >"$d/rabbitmq-env.conf"
  cat >"$d/rabbitmq.conf" <<EOF
# generated by scripts/services.sh
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
loopback_users.guest = true
log.file.level = info
log.console = false
EOF
  ensure_epmd
  if rabbit_node_registered; then
    log "node $RABBIT_NODE is running but AMQP is not answering yet; waiting"
  else
    rm -f "$d/rabbitmq.pid"
    # keep the previous run's logs, but don't let an old "BOOT FAILED" fail this start
    [ -f "$d/startup.log" ] && mv -f "$d/startup.log" "$d/startup.log.prev"
    [ -f "$d/log/$RABBIT_NODE.log" ] && mv -f "$d/log/$RABBIT_NODE.log" "$d/log/$RABBIT_NODE.log.prev"
    log "starting rabbitmq-server as $RABBIT_NODE on 127.0.0.1:$AMQP_PORT"
    (rabbit_env && cd "$d" && exec setsid "$bin/rabbitmq-server" -detached) </dev/null >>"$d/startup.log" 2>&1 9>&- ||
      die_log rabbitmq "rabbitmq-server -detached failed" "$d/startup.log" "$d/log/$RABBIT_NODE.log"
  fi
  wait_until "$RABBIT_DEADLINE" rabbit_ready || rc=$?
  if [ "$rc" -ne 0 ] || ! amqp_ok; then
    die_log rabbitmq "RabbitMQ is not ready on 127.0.0.1:$AMQP_PORT (boot failed, or not ready within ${RABBIT_DEADLINE}s)" \
      "$d/startup.log" "$d/log/$RABBIT_NODE.log"
  fi
  echo "$AMQP_PORT" >"$d/port"
  log "up: $AMQP_URL"
}

rabbit_stop() {
  local d="$STATE/rabbitmq"
  if pid_matches "$d/rabbitmq.pid" beam; then
    log "stopping rabbitmq node $RABBIT_NODE"
    rmq rabbitmqctl -q stop "$d/rabbitmq.pid" >/dev/null 2>&1 || true
    stop_pidfile rabbitmq "$d/rabbitmq.pid" beam # no-op if rabbitmqctl already stopped it
  elif rabbit_node_registered; then
    log "stopping rabbitmq node $RABBIT_NODE (no pid file)"
    rmq rabbitmqctl -q stop >/dev/null 2>&1 || true
  elif amqp_ok; then
    log "rabbitmq on port $AMQP_PORT was not started by this script; leaving it alone"
  fi
  wait_until "$STOP_DEADLINE" port_closed "$AMQP_PORT" || die "[rabbitmq] port $AMQP_PORT still open after stop"
  rm -f "$d/rabbitmq.pid" "$d/port"
}

epmd_stop_if_ours() {
  local d="$STATE/rabbitmq"
  [ -f "$d/epmd.started" ] || return 0
  # only if no Erlang node is registered any more
  if output_has '^name ' bash -c 'ERL_EPMD_ADDRESS=127.0.0.1 epmd -names'; then
    return 0
  fi
  (rabbit_env && epmd -kill >/dev/null 2>&1) || true
  rm -f "$d/epmd.started"
}

up_rabbitmq() { rabbit_start; }

# ----------------------------------------------------------------------------- python (Celery peer)

# celery + its clients for the interop peers; libnss-myhostname makes *.localhost resolve, since kombu's
# SQS transport sends its requests to the queue URL (http://sqs.us-east-1.localhost:PORT/…) fauxqs hands out.
python_ok() {
  [ -x "$PY" ] && "$PY" -c 'import celery, redis, pymongo, pycurl' >/dev/null 2>&1 &&
    getent hosts sqs.us-east-1.localhost >/dev/null 2>&1
}

up_python() {
  python_ok || die "[python] $PY cannot 'import celery, redis' (install: ${PY_PKGS[*]})"
  log "up: $("$PY" -c 'import sys, celery, kombu, redis, amqp; print("python %d.%d, celery %s, kombu %s, redis-py %s, py-amqp %s" % (sys.version_info[0], sys.version_info[1], celery.__version__, kombu.__version__, redis.__version__, amqp.__version__))')"
}

# ----------------------------------------------------------------------------- pyvenv (boto3, Flower)

venv_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import celery, boto3, flower' >/dev/null 2>&1 && [ -s "$VENV/.pinned" ] && [ "$(cat "$VENV/.pinned")" = "${VENV_PKGS[*]}" ]; }

up_pyvenv() {
  python_ok || die "[pyvenv] $PY cannot 'import celery, redis, pymongo, pycurl' (install: ${PY_PKGS[*]})"
  if ! venv_ok; then
    log "creating $VENV over Debian's Celery and installing ${VENV_PKGS[*]}"
    rm -rf "$VENV"
    "$PY" -m venv --system-site-packages "$VENV" </dev/null >"$STATE/pyvenv.log" 2>&1 9>&- ||
      die_log pyvenv "python3 -m venv failed" "$STATE/pyvenv.log"
    timeout "$NPM_DEADLINE" "$VENV/bin/pip" install -q --disable-pip-version-check --no-input "${VENV_PKGS[@]}" \
      </dev/null >>"$STATE/pyvenv.log" 2>&1 9>&- || die_log pyvenv "pip install failed" "$STATE/pyvenv.log"
    echo "${VENV_PKGS[*]}" >"$VENV/.pinned"
  fi
  venv_ok || die_log pyvenv "$VENV cannot import celery, boto3 and flower" "$STATE/pyvenv.log"
  log "up: $("$VENV/bin/python" -c 'import celery, kombu, boto3, flower; print("celery %s, kombu %s, boto3 %s, flower %s" % (celery.__version__, kombu.__version__, boto3.__version__, flower.__version__))')"
}

# ----------------------------------------------------------------------------- sqs (fauxqs)

sqs_ok() {
  if have curl; then
    curl -fsS -m 3 -o /dev/null "http://127.0.0.1:$SQS_PORT/health" 2>/dev/null
  else
    output_has ' 200' timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SQS_PORT; printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3; head -n 1 <&3"
  fi
}

fauxqs_installed_version() {
  node -e 'process.stdout.write(require(process.argv[1]).version)' \
    "$STATE/fauxqs/node_modules/fauxqs/package.json" 2>/dev/null || true
}

write_fauxqs_launcher() {
  # fauxqs' CLI hard-codes app.listen({ host: "0.0.0.0" }) and always logs every request; this launcher
  # binds to loopback instead (by defaulting the host of net.Server#listen) and writes a pid file.
  cat >"$STATE/fauxqs/launch.mjs" <<'EOF'
// Generated by tq scripts/services.sh: run fauxqs bound to 127.0.0.1 only.
import net from "node:net";
import { writeFileSync } from "node:fs";

const host = "127.0.0.1";
const port = Number(process.env.TQ_SQS_PORT ?? 9324);
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const opts = args[0];
  if (opts && typeof opts === "object" && opts.path === undefined &&
      (opts.host === undefined || opts.host === "0.0.0.0" || opts.host === "::")) {
    args[0] = { ...opts, host };
  }
  return listen.apply(this, args);
};
if (process.env.TQ_PID_FILE) writeFileSync(process.env.TQ_PID_FILE, `${process.pid}\n`);
const { startFauxqs } = await import("fauxqs");
const server = await startFauxqs({ port, logger: process.env.TQ_SQS_LOG === "1" });
console.log(`fauxqs listening on ${server.address}`);
EOF
}

up_sqs() {
  local d="$STATE/fauxqs" v pid
  mkdir -p "$d"
  check_port_conflict sqs fauxqs "$SQS_PORT" "$d/fauxqs.pid" launch.mjs
  if sqs_ok; then
    log "already answering on 127.0.0.1:$SQS_PORT"
    return 0
  fi
  have node || die "[sqs] node is not installed (fauxqs needs Node.js >= 20)"
  v=$(fauxqs_installed_version)
  if [ "$v" != "$FAUXQS_VERSION" ]; then
    have npm || die "[sqs] npm is not installed"
    log "npm install fauxqs@$FAUXQS_VERSION into $d"
    timeout "$NPM_DEADLINE" npm install --prefix "$d" --no-audit --no-fund --loglevel=error \
      "fauxqs@$FAUXQS_VERSION" </dev/null >"$d/npm-install.log" 2>&1 9>&- ||
      die_log sqs "npm install fauxqs@$FAUXQS_VERSION failed" "$d/npm-install.log"
  fi
  write_fauxqs_launcher
  rm -f "$d/fauxqs.pid"
  [ -f "$d/fauxqs.log" ] && mv -f "$d/fauxqs.log" "$d/fauxqs.log.prev"
  log "starting fauxqs $FAUXQS_VERSION on 127.0.0.1:$SQS_PORT"
  (cd "$d" && TQ_SQS_PORT="$SQS_PORT" TQ_PID_FILE="$d/fauxqs.pid" exec setsid -w node "$d/launch.mjs") \
    </dev/null >>"$d/fauxqs.log" 2>&1 9>&- &
  pid=$!
  sqs_wait() {
    kill -0 "$pid" 2>/dev/null || return 2
    sqs_ok
  }
  wait_until "$SQS_DEADLINE" sqs_wait && sqs_ok ||
    die_log sqs "fauxqs is not answering http://127.0.0.1:$SQS_PORT/health (it exited, or no answer within ${SQS_DEADLINE}s)" "$d/fauxqs.log"
  echo "$SQS_PORT" >"$d/port"
  log "up: $SQS_ENDPOINT"
}

down_sqs() {
  local d="$STATE/fauxqs"
  if pid_matches "$d/fauxqs.pid" launch.mjs; then
    stop_pidfile fauxqs "$d/fauxqs.pid" launch.mjs
  elif sqs_ok; then
    log "sqs emulator on port $SQS_PORT was not started by this script; leaving it alone"
  fi
  rm -f "$d/fauxqs.pid" "$d/port"
}

# ----------------------------------------------------------------------------- mongo (FerretDB)

ferretdb_bin() {
  if [ -n "${TQ_FERRETDB_BIN:-}" ]; then
    echo "$TQ_FERRETDB_BIN"
  elif have go; then
    local gobin
    gobin=$(go env GOBIN 2>/dev/null || true)
    [ -n "$gobin" ] || gobin="$(go env GOPATH 2>/dev/null | cut -d: -f1)/bin"
    echo "$gobin/ferretdb"
  else
    echo "${GOPATH:-$HOME/go}/bin/ferretdb"
  fi
}

ferretdb_version_ok() { # <bin>
  [ -x "$1" ] && output_has "^version: ${FERRETDB_VERSION//./\\.}\$" "$1" --version
}

# FerretDB v1's SQLite handler is compiled in by default (build tag ferretdb_no_sqlite removes it); it
# uses modernc.org/sqlite, so no cgo/libsqlite is needed. A plain
# `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.0` does not work for us:
#  - go install pkg@version looks up deprecations via <proxy>/@v/list, which our Go proxy answers
#    with 403, and that error is fatal;
#  - the module zip lacks the generated build/version/version.txt, so the binary panics at startup
#    ("Invalid build/version/version.txt file content").
# So: download the module, copy it, write version.txt, and `go build` it inside its own module
# (same dependency versions as go install would use, from FerretDB's go.mod/go.sum).
build_ferretdb() { # <bin>
  local bin=$1 d="$STATE/ferretdb" src work
  have go || die "[mongo] Go toolchain not found (need Go >= 1.22 to build FerretDB $FERRETDB_VERSION; or set TQ_FERRETDB_BIN)"
  mkdir -p "$(dirname "$bin")"
  work="$d/build"
  rm -rf "$work"
  mkdir -p "$work"
  log "building FerretDB $FERRETDB_VERSION (cold build takes a few minutes; log: $d/build.log)"
  (
    # (no "set -e" here: it is ignored inside "... || die"; hence the && chain)
    cd "$work" &&
      { timeout 600 go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" >download.json ||
        { cat download.json; false; }; } &&
      src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' download.json) &&
      [ -n "$src" ] && [ -d "$src" ] &&
      cp -R "$src" "$work/src" &&
      chmod -R u+w "$work/src" &&
      echo "$FERRETDB_VERSION" >"$work/src/build/version/version.txt" &&
      cd "$work/src" &&
      GOFLAGS="-buildvcs=false" timeout "$GO_DEADLINE" go build -trimpath -o "$bin.tmp.$$" ./cmd/ferretdb &&
      mv -f "$bin.tmp.$$" "$bin"
  ) </dev/null >"$d/build.log" 2>&1 9>&- || {
    rm -f "$bin.tmp.$$"
    die_log mongo "building FerretDB $FERRETDB_VERSION failed" "$d/build.log"
  }
  rm -rf "$work"
  ferretdb_version_ok "$bin" || die_log mongo "built $bin but '$bin --version' is not $FERRETDB_VERSION" "$d/build.log"
  log "installed $bin"
}

# OP_MSG {ping: 1} with the stdlib only (pymongo is not installed); falls back to a TCP connect.
mongo_ping() {
  port_open "$MONGO_PORT" || return 1
  [ -x "$PY" ] || return 0
  timeout 5 "$PY" - "$MONGO_PORT" <<'EOF' >/dev/null 2>&1
import socket, struct, sys
def cstr(s): return s.encode() + b"\0"
body = b"\x10" + cstr("ping") + struct.pack("<i", 1) + b"\x02" + cstr("$db") + struct.pack("<i", 6) + cstr("admin")
doc = struct.pack("<i", len(body) + 5) + body + b"\0"
msg = struct.pack("<I", 0) + b"\0" + doc
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=4)
s.sendall(struct.pack("<iiii", 16 + len(msg), 1, 0, 2013) + msg)
buf = b""
while len(buf) < 4 or len(buf) < struct.unpack("<i", buf[:4])[0]:
    chunk = s.recv(65536)
    if not chunk: break
    buf += chunk
i = buf.find(b"\x01ok\0")
sys.exit(0 if i >= 0 and struct.unpack("<d", buf[i + 4:i + 12])[0] == 1.0 else 1)
EOF
}

up_mongo() {
  local d="$STATE/ferretdb" bin pid
  mkdir -p "$d/data" "$d/state"
  check_port_conflict mongo ferretdb "$MONGO_PORT" "$d/ferretdb.pid" ferretdb
  if mongo_ping; then
    log "already answering on 127.0.0.1:$MONGO_PORT"
    return 0
  fi
  bin=$(ferretdb_bin)
  if ! ferretdb_version_ok "$bin"; then
    build_ferretdb "$bin"
  fi
  rm -f "$d/ferretdb.pid"
  [ -f "$d/ferretdb.log" ] && mv -f "$d/ferretdb.log" "$d/ferretdb.log.prev"
  log "starting FerretDB $FERRETDB_VERSION (sqlite) on 127.0.0.1:$MONGO_PORT"
  (cd "$d" && exec setsid -w bash -c 'echo $$ >"$0"; exec "$@"' "$d/ferretdb.pid" "$bin" \
    --handler=sqlite --sqlite-url="file:$d/data/" --listen-addr="127.0.0.1:$MONGO_PORT" \
    --state-dir="$d/state" --telemetry=disable --debug-addr=- --log-level=warn) \
    </dev/null >>"$d/ferretdb.log" 2>&1 9>&- &
  pid=$!
  mongo_wait() {
    kill -0 "$pid" 2>/dev/null || return 2
    mongo_ping
  }
  wait_until "$MONGO_DEADLINE" mongo_wait && mongo_ping ||
    die_log mongo "FerretDB is not answering on 127.0.0.1:$MONGO_PORT (it exited, or no answer within ${MONGO_DEADLINE}s)" "$d/ferretdb.log"
  echo "$MONGO_PORT" >"$d/port"
  log "up: $MONGO_URL"
}

down_mongo() {
  local d="$STATE/ferretdb"
  if pid_matches "$d/ferretdb.pid" ferretdb; then
    stop_pidfile ferretdb "$d/ferretdb.pid" ferretdb
  elif port_open "$MONGO_PORT"; then
    log "mongo server on port $MONGO_PORT was not started by this script; leaving it alone"
  fi
  rm -f "$d/ferretdb.pid" "$d/port"
}

# ----------------------------------------------------------------------------- chromium

up_chromium() {
  [ -x "$CHROMIUM" ] || apt_install chromium
  [ -x "$CHROMIUM" ] || die "[chromium] $CHROMIUM missing after installing the chromium package"
  log "up: $(timeout 30 "$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
}

# ----------------------------------------------------------------------------- status

svc_is_up() {
  case $1 in
    redis) redis_ping ;;
    rabbitmq) amqp_ok ;;
    python) python_ok ;;
    pyvenv) venv_ok ;;
    sqs) sqs_ok ;;
    mongo) mongo_ping ;;
    chromium) [ -x "$CHROMIUM" ] ;;
  esac
}

# ----------------------------------------------------------------------------- commands

parse_services() { # names... -> SELECTED array (canonical names, deduplicated, in canonical order)
  local want=() s c
  if [ $# -eq 0 ]; then
    want=("${SERVICES_ALL[@]}")
  else
    for s in "$@"; do
      case $s in
        redis) c=redis ;;
        rabbitmq | rabbit | amqp) c=rabbitmq ;;
        python | celery) c=python ;;
        pyvenv | venv | boto3 | flower) c=pyvenv ;;
        sqs | fauxqs) c=sqs ;;
        mongo | mongodb | ferretdb) c=mongo ;;
        chromium | chrome) c=chromium ;;
        all) want+=("${SERVICES_ALL[@]}"); continue ;;
        *) die "unknown service '$s' (known: ${SERVICES_ALL[*]})" ;;
      esac
      want+=("$c")
    done
  fi
  SELECTED=()
  for c in "${SERVICES_ALL[@]}"; do
    for s in "${want[@]}"; do
      if [ "$s" = "$c" ]; then SELECTED+=("$c"); break; fi
    done
  done
}

selected() { local s; for s in "${SELECTED[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

take_lock() {
  mkdir -p "$STATE" "$RUN"
  exec 9>"$STATE/.lock"
  if ! flock -n 9; then
    log "waiting for another services.sh in $STATE (lock $STATE/.lock, up to ${LOCK_DEADLINE}s)"
    flock -w "$LOCK_DEADLINE" 9 || die "timed out waiting for $STATE/.lock"
  fi
}

# run_job <svc>: run up_<svc> in the background, output prefixed with [svc]; result in $RUN/<svc>.result
declare -A JOB_PIDS=()
run_job() {
  local svc=$1
  rm -f "$RUN/$svc.result"
  (
    t0=$(now_us)
    trap 'echo "$? $(($(now_us) - t0))" >"$RUN/'"$svc"'.result"' EXIT
    "up_$svc"
  ) 2>&1 | sed -u "s/^/[$svc] /" &
  JOB_PIDS[$svc]=$!
}

cmd_up() {
  parse_services "$@"
  take_lock
  local t_start t_apt pkgs=() svc rc us failed=() line
  t_start=$(now_us)
  log "tq services: up ${SELECTED[*]} (state: $STATE)"

  # Decide what must come from apt before starting anything (only for services not already answering).
  if selected redis && ! have redis-server && ! redis_ping; then pkgs+=(redis-server); fi
  if selected rabbitmq && [ -z "$(rabbit_bin_dir)" ] && ! amqp_ok; then pkgs+=(rabbitmq-server); fi
  if { selected python || selected pyvenv; } && ! python_ok; then
    [ -x "$PY" ] || pkgs+=(python3)
    pkgs+=("${PY_PKGS[@]}")
  fi

  # No apt dependencies: start the slow npm install / FerretDB build right away, in parallel with apt.
  selected sqs && run_job sqs
  selected mongo && run_job mongo

  # Small server packages first (one apt-get update for the whole invocation), then start the servers
  # while the (big) chromium package installs.
  if [ ${#pkgs[@]} -gt 0 ]; then
    t_apt=$(now_us)
    if ! apt_install "${pkgs[@]}" 2>&1 | sed -u 's/^/[apt] /'; then
      for svc in "${!JOB_PIDS[@]}"; do wait "${JOB_PIDS[$svc]}" || true; done
      die "installing ${pkgs[*]} failed"
    fi
    APT_UPDATED=1 # (apt_install ran in a pipeline subshell) -- the chromium job must not update again
    log "[apt] done in $(fmt_secs $(($(now_us) - t_apt)))"
  fi
  # chromium (if missing) is installed by its own job, after the servers' packages and in parallel
  # with their startup.
  for svc in redis rabbitmq python pyvenv chromium; do
    if selected "$svc"; then run_job "$svc"; fi
  done

  for svc in "${!JOB_PIDS[@]}"; do wait "${JOB_PIDS[$svc]}" || true; done

  echo
  log "== tq services (total $(fmt_secs $(($(now_us) - t_start))))"
  for svc in "${SELECTED[@]}"; do
    line="?"
    rc=1 us=0
    if [ -s "$RUN/$svc.result" ]; then read -r rc us <"$RUN/$svc.result"; fi
    if [ "$rc" = 0 ]; then line=up; else line=FAILED; failed+=("$svc"); fi
    printf '  %-9s %-7s %7s  %s\n' "$svc" "$line" "$(fmt_secs "${us:-0}")" "$(url_of "$svc")"
  done
  print_env >"$STATE/env"
  echo
  print_env
  if [ ${#failed[@]} -gt 0 ]; then
    die "failed to bring up: ${failed[*]} (see the [service] ERROR lines above; logs under $STATE)"
  fi
}

cmd_down() {
  parse_services "$@"
  take_lock
  selected sqs && down_sqs
  selected mongo && down_mongo
  selected redis && redis_stop
  if selected rabbitmq; then
    rabbit_stop
    epmd_stop_if_ours
  fi
  log "down: ${SELECTED[*]}"
}

cmd_status() {
  parse_services "$@"
  local svc all_up=0
  for svc in "${SELECTED[@]}"; do
    if svc_is_up "$svc"; then
      echo "$svc: up ($(url_of "$svc"))"
    else
      echo "$svc: down ($(url_of "$svc"))"
      all_up=1
    fi
  done
  echo
  print_env "export "
  return "$all_up"
}

cmd_restart_redis() {
  take_lock
  local d="$STATE/redis"
  if redis_ping && ! pid_matches "$d/redis.pid" redis-server; then
    die "[redis] the Redis on port $REDIS_PORT was not started by $0 (no pid file in $d); cannot restart it"
  fi
  redis_stop
  wait_until "$STOP_DEADLINE" port_closed "$REDIS_PORT" || die "[redis] port $REDIS_PORT still open after stop"
  redis_start
}

cmd_restart_rabbitmq() {
  take_lock
  local d="$STATE/rabbitmq"
  if amqp_ok && ! pid_matches "$d/rabbitmq.pid" beam && ! rabbit_node_registered; then
    die "[rabbitmq] the RabbitMQ on port $AMQP_PORT was not started by $0 (node $RABBIT_NODE); cannot restart it"
  fi
  rabbit_stop
  rabbit_start
}

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
}

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    env) print_env "export " ;;
    restart-redis) cmd_restart_redis ;;
    restart-rabbitmq) cmd_restart_rabbitmq ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
