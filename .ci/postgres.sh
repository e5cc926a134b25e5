# Sourced by .ci/run: make a PostgreSQL server available to the `postgres` tests, or leave them to skip.
#
# - installs the `postgres` extra (psycopg) into .venv;
# - if $INFRASIGNAL_TEST_PG is set, or a local server answers on the usual addresses, uses that;
# - else installs Debian's postgresql when its binaries are missing and apt-get is there, starts a
#   throwaway cluster (initdb into a temp dir, loopback only, a free port), creates a database and exports
#   INFRASIGNAL_TEST_PG; the cluster is stopped and removed when .ci/run exits.
# Never fails the run: without a server the tests skip with a one-line reason.

infrasignal_pg_log() { echo "ci/postgres: $*" >&2; }

infrasignal_pg_stop() {
    if [ -n "${INFRASIGNAL_PG_DIR:-}" ] && [ -d "$INFRASIGNAL_PG_DIR" ]; then
        infrasignal_pg_as_owner "$INFRASIGNAL_PG_BIN/pg_ctl" -D "$INFRASIGNAL_PG_DIR/data" -m immediate stop \
            >/dev/null 2>&1 || true
        rm -rf "$INFRASIGNAL_PG_DIR"
    fi
}

# initdb and postgres refuse to run as root: as root, run them as the `postgres` user.
infrasignal_pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

infrasignal_pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

infrasignal_pg_start() {
    make install >/dev/null
    if ! .venv/bin/python -m pip install -q -e '.[dev,postgres]'; then
        infrasignal_pg_log "could not install the postgres extra; PostgreSQL tests will skip"
        return 0
    fi
    local found
    if found=$(cd tests && ../.venv/bin/python -m support.pg); then
        infrasignal_pg_log "using the server at ${found%%@*}@…"
        export INFRASIGNAL_TEST_PG="$found"
        return 0
    fi
    if [ -n "${INFRASIGNAL_TEST_PG:-}" ]; then
        infrasignal_pg_log "$found"
        return 0
    fi
    INFRASIGNAL_PG_BIN=$(infrasignal_pg_bin || true)
    if [ -z "$INFRASIGNAL_PG_BIN" ]; then
        local sudo=""
        if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        fi
        if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" != 0 ] && [ -z "$sudo" ]; }; then
            infrasignal_pg_log "no server, and no apt-get to install one; PostgreSQL tests will skip"
            return 0
        fi
        infrasignal_pg_log "installing Debian's postgresql"
        { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } \
            >/dev/null 2>&1 \
            || { infrasignal_pg_log "apt-get install postgresql failed; PostgreSQL tests will skip"; return 0; }
        INFRASIGNAL_PG_BIN=$(infrasignal_pg_bin || true)
        [ -n "$INFRASIGNAL_PG_BIN" ] || { infrasignal_pg_log "no initdb after install; tests will skip"; return 0; }
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        infrasignal_pg_log "no postgres user to run the server as; PostgreSQL tests will skip"
        return 0
    fi
    INFRASIGNAL_PG_DIR=$(mktemp -d /tmp/infrasignal-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$INFRASIGNAL_PG_DIR"
    trap infrasignal_pg_stop EXIT
    local port
    port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if ! infrasignal_pg_as_owner "$INFRASIGNAL_PG_BIN/initdb" -D "$INFRASIGNAL_PG_DIR/data" -U postgres \
        -A trust -E UTF8 --locale=C.UTF-8 >"$INFRASIGNAL_PG_DIR/initdb.log" 2>&1; then
        infrasignal_pg_log "initdb failed ($(tail -n 1 "$INFRASIGNAL_PG_DIR/initdb.log")); tests will skip"
        return 0
    fi
    if ! infrasignal_pg_as_owner "$INFRASIGNAL_PG_BIN/pg_ctl" -D "$INFRASIGNAL_PG_DIR/data" -w -t 60 \
        -l "$INFRASIGNAL_PG_DIR/server.log" \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$INFRASIGNAL_PG_DIR -c fsync=off -c max_connections=200" \
        start >/dev/null; then
        infrasignal_pg_log "the server did not start ($(tail -n 1 "$INFRASIGNAL_PG_DIR/server.log")); tests will skip"
        return 0
    fi
    if ! infrasignal_pg_as_owner "$INFRASIGNAL_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres infrasignal_test; then
        infrasignal_pg_log "createdb failed; PostgreSQL tests will skip"
        return 0
    fi
    export INFRASIGNAL_TEST_PG="postgresql+psycopg://postgres@127.0.0.1:$port/infrasignal_test"
    infrasignal_pg_log "started a throwaway server on 127.0.0.1:$port"
}

infrasignal_pg_start
