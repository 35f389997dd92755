# Throwaway PostgreSQL for the test suite. Sourced by scripts/test; not run on its own.
#
#   pg_start      initdb + start a private server on 127.0.0.1:$PG_PORT, socket in $PG_TMP;
#                 sets PG_TMP, PG_PORT, PG_URL
#   pg_stop       stop it and delete its directory (safe to call twice, or before pg_start)
#
# initdb and postgres refuse to run as root, so as root they run as the `postgres` user the
# Debian package creates; as anyone else they run as that user. The private port and socket
# directory keep this server apart from any PostgreSQL already on the machine.

PG_TMP=""
PG_PORT=""
PG_URL=""
_PG_BIN=""

_pg_as_owner() {
    # Run from inside PG_TMP so `postgres` is not told it cannot read the caller's directory.
    if [[ $EUID -eq 0 ]]; then
        (cd "$PG_TMP" && runuser -u postgres -- "$@")
    else
        (cd "$PG_TMP" && "$@")
    fi
}

_pg_find_bin() {
    local initdb
    initdb=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
    if [[ ! -x $initdb ]]; then
        echo "error: no PostgreSQL found under /usr/lib/postgresql/*/bin (is 'postgresql' installed?)" >&2
        return 1
    fi
    _PG_BIN=$(dirname "$initdb")
}

_pg_free_port() {
    # Ask the kernel for a free loopback port; it is released again before postgres binds it.
    "$1" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

pg_start() {
    local python=$1
    _pg_find_bin
    PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cargohold-pg.XXXXXX")
    if [[ $EUID -eq 0 ]]; then
        chown postgres: "$PG_TMP"
    fi
    PG_PORT=$(_pg_free_port "$python")

    echo "    $($_PG_BIN/postgres --version), port $PG_PORT, dir $PG_TMP"
    if ! _pg_as_owner "$_PG_BIN/initdb" -D "$PG_TMP/data" -A trust -U postgres \
        --no-sync >"$PG_TMP/initdb.log" 2>&1; then
        echo "error: initdb failed:" >&2
        cat "$PG_TMP/initdb.log" >&2
        return 1
    fi
    if ! _pg_as_owner "$_PG_BIN/pg_ctl" -D "$PG_TMP/data" \
        -o "-p $PG_PORT -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off" \
        -l "$PG_TMP/log" -w -t 60 start >/dev/null; then
        echo "error: PostgreSQL did not start; its log:" >&2
        cat "$PG_TMP/log" >&2 || true
        return 1
    fi
    PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
}

pg_stop() {
    [[ -n $PG_TMP ]] || return 0
    if [[ -f $PG_TMP/data/postmaster.pid ]]; then
        _pg_as_owner "$_PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_TMP"
    PG_TMP=""
}
