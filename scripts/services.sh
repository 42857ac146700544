#!/usr/bin/env bash
# The real servers behind the backend tests: PostgreSQL and Redis from Debian's packages, S3/STS from
# moto_server. Idempotent; needs root on a fresh Debian machine (installs the packages), and only starts
# what is not already answering.
#
#   scripts/services.sh [start]   install and start everything, then print the environment (as `env`)
#   scripts/services.sh env       print the `export` lines the tests read (eval "$(scripts/services.sh env)")
set -euo pipefail

PG_ROLE=linkage
PG_PASSWORD=linkage
PG_DB=linkage_test
PG_PORT=5432
REDIS_PORT=6379
MOTO_PORT=${LINKAGE_MOTO_PORT:-5000}
STATE_DIR=${LINKAGE_SERVICES_DIR:-/tmp/linkage-services}

log() { echo "services: $*" >&2; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds or the time is up.
wait_for() {
	local secs=$1 what=$2
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	log "$what did not come up within ${secs}s"
	return 1
}

pg_bindir() {
	local v
	v=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n1)
	[[ -n $v ]] && echo "/usr/lib/postgresql/$v/bin"
}

print_env() {
	cat <<EOF
export LINKAGE_TEST_POSTGRES_URL='postgres://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB?sslmode=disable'
export LINKAGE_TEST_POSTGRES_BIN='$(pg_bindir)'
export LINKAGE_TEST_REDIS_URL='redis://127.0.0.1:$REDIS_PORT/0'
export LINKAGE_TEST_S3_ENDPOINT='http://127.0.0.1:$MOTO_PORT'
EOF
}

install_packages() {
	if [[ -n $(pg_bindir) ]] && command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
		return
	fi
	if [[ $(id -u) -ne 0 ]]; then
		log "PostgreSQL/Redis are missing and installing them needs root"
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	log "installing postgresql and redis-server"
	# A fresh machine may have no package lists yet: update only when the plain install fails.
	if ! apt-get install -y -q postgresql redis-server >&2; then
		apt-get update -q >&2
		apt-get install -y -q postgresql redis-server >&2
	fi
}

start_postgres() {
	local bindir ver
	bindir=$(pg_bindir)
	ver=$(basename "$(dirname "$bindir")")
	if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$ver main"; then
		log "creating PostgreSQL $ver cluster"
		pg_createcluster "$ver" main -p "$PG_PORT" >&2
	fi
	if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
		log "starting PostgreSQL $ver"
		pg_ctlcluster "$ver" main start >&2
	fi
	wait_for 60 PostgreSQL pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
	local psql=(env -C / runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -tA)
	if [[ $("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE'") != 1 ]]; then
		"${psql[@]}" -c "CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD'"
	fi
	if [[ $("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") != 1 ]]; then
		"${psql[@]}" -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE"
	fi
}

start_redis() {
	if redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then return; fi
	log "starting redis-server on 127.0.0.1:$REDIS_PORT"
	mkdir -p "$STATE_DIR"
	redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
		--dir "$STATE_DIR" --logfile "$STATE_DIR/redis.log" --pidfile "$STATE_DIR/redis.pid"
	wait_for 30 Redis sh -c "redis-cli -p $REDIS_PORT ping | grep -q PONG"
}

# moto_up: moto answers HTTP (bash's /dev/tcp: no curl needed on a fresh machine). The subshell
# contains the failure of exec's redirection, which would end a non-interactive shell.
moto_up() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT" || exit 1
		printf 'GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
		read -r -t 5 line <&3 || exit 1
		[[ $line == HTTP/*" 200"* ]]
	) 2>/dev/null
}

start_moto() {
	if moto_up; then return; fi
	local moto
	moto=$(command -v moto_server || true)
	if [[ -z $moto && -x ${PYENV_ROOT:-$HOME/.pyenv}/shims/moto_server ]]; then
		moto=${PYENV_ROOT:-$HOME/.pyenv}/shims/moto_server
	fi
	if [[ -z $moto ]]; then
		log "moto_server is not on PATH: S3/STS tests need it"
		exit 1
	fi
	log "starting moto_server on 127.0.0.1:$MOTO_PORT"
	mkdir -p "$STATE_DIR"
	# setsid: the server outlives this script and the make that ran it.
	setsid "$moto" -H 127.0.0.1 -p "$MOTO_PORT" >"$STATE_DIR/moto.log" 2>&1 </dev/null &
	wait_for 120 moto_server moto_up
}

case ${1:-start} in
start)
	install_packages
	start_postgres
	start_redis
	start_moto
	print_env
	;;
env) print_env ;;
*)
	echo "usage: $0 [start|env]" >&2
	exit 2
	;;
esac
