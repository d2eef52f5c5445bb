#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, on 127.0.0.1 and a free port.
#
#   eval "$(.ci/postgres.sh start)"    # prints: export REPLYGATE_TEST_POSTGRES=postgresql://…
#   .ci/postgres.sh stop               # stops it and removes its folder
#   .ci/postgres.sh status | env       # exit 0 and the export line while it runs
#
# An optional second argument names the instance (default "ci"; the tests use their own), so
# several can run side by side. start and stop are idempotent. Installs Debian's postgresql
# package when initdb is missing (as root; `apt-get update` only when the package is missing).
# The cluster is a throwaway: its own folder under /tmp, owned by the postgres user when run as
# root (initdb refuses root), password authentication only, listening on 127.0.0.1 only.
# Only the export line goes to stdout; progress and errors go to stderr.
set -euo pipefail

command=${1:-start}
name=${2:-${REPLYGATE_PG_NAME:-ci}}
if [[ ! $name =~ ^[A-Za-z0-9_-]+$ ]]; then
    echo "postgres.sh: error: instance name '$name': use letters, digits, - and _" >&2
    exit 2
fi
base=${REPLYGATE_PG_TMP:-/tmp}
root="$base/replygate-postgres-$name"
data="$root/data"
envfile="$root/env"
user=replygate
database=replygate

say() { echo "postgres.sh: $*" >&2; }
die() { echo "postgres.sh: error: $*" >&2; exit 1; }

bin_dir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n $found && -x $found/initdb && -x $found/pg_ctl ]]; then
        echo "$found"
    fi
}

install_postgres() {
    [[ -n $(bin_dir) ]] && return 0
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed: run 'apt-get install postgresql' as root"
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and there is no apt-get"
    say "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    if ! dpkg -s postgresql >/dev/null 2>&1; then
        apt-get update -qq >&2
    fi
    apt-get install -y -qq --no-install-recommends postgresql >&2
    [[ -n $(bin_dir) ]] || die "installed postgresql, but found no initdb under /usr/lib/postgresql"
}

# Run as the cluster's owner: the postgres user when we are root, else ourselves.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    local bin
    bin=$(bin_dir)
    [[ -n $bin && -f $envfile && -f $data/postmaster.pid ]] &&
        as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

port_free() {
    # A connection that succeeds means someone listens there already.
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    if running; then
        say "already running ($root)"
        cat "$envfile"
        return 0
    fi
    install_postgres
    local bin password port started=0
    bin=$(bin_dir)
    if [[ -e $root ]]; then
        say "removing the stale folder $root"
        rm -rf "$root"
    fi
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "there is no postgres user to own the cluster"
        install -d -m 700 -o postgres -g postgres "$root"
    else
        install -d -m 700 "$root"
    fi
    password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    as_owner sh -c "umask 077 && printf '%s\n' '$password' > '$root/password'"
    say "initialising a cluster in $data"
    as_owner "$bin/initdb" -D "$data" -U "$user" --pwfile="$root/password" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C --no-sync >"$root.initdb.log" 2>&1 ||
        { cat "$root.initdb.log" >&2; rm -f "$root.initdb.log"; die "initdb failed"; }
    rm -f "$root.initdb.log"
    for _attempt in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 40000))
        port_free "$port" || continue
        if as_owner "$bin/pg_ctl" -D "$data" -l "$root/server.log" -w -t 60 \
            -o "-h 127.0.0.1 -p $port -k $root" start >/dev/null 2>&1 9>&-; then
            started=1
            break
        fi
    done
    if [[ $started -ne 1 ]]; then
        [[ -f $root/server.log ]] && tail -n 20 "$root/server.log" >&2
        die "the server did not start (log above)"
    fi
    PGPASSWORD=$password "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" "$database" ||
        die "could not create the database $database"
    local dsn="postgresql://$user:$password@127.0.0.1:$port/$database"
    echo "export REPLYGATE_TEST_POSTGRES=$dsn" >"$envfile.tmp"
    chmod 600 "$envfile.tmp"
    mv "$envfile.tmp" "$envfile"
    say "PostgreSQL running on 127.0.0.1:$port ($root)"
    cat "$envfile"
}

stop() {
    local bin
    bin=$(bin_dir)
    if [[ -n $bin && -f $data/postmaster.pid ]]; then
        as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            say "pg_ctl stop failed; removing the folder anyway"
    fi
    if [[ -e $root ]]; then
        rm -rf "$root"
        say "stopped and removed $root"
    fi
    # The instance is gone; so is its lock file (a start racing this stop may recreate it).
    rm -f "$lock"
}

# One start or stop of an instance at a time (parallel test workers, a CI retry). The server
# must not inherit this descriptor (9>&- above), or it would hold the lock for its lifetime.
lock="$base/replygate-postgres-$name.lock"
exec 9>"$lock"
flock 9

case $command in
    start) start ;;
    stop) stop ;;
    status | env)
        if running; then cat "$envfile"; else say "not running ($root)"; exit 3; fi
        ;;
    *)
        echo "usage: $0 start|stop|status|env [NAME]" >&2
        exit 2
        ;;
esac
