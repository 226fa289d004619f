#!/usr/bin/env bats
# final.bats - the final pool against its contract (final/SPEC.md,
# sections 2-5 and 7): round-robin by content with 3 and 5 workers; a clean
# stop by SIGINT and by SIGTERM (exit status, log order, no process, queue
# or socket file left) and a second SIGINT during a stop; no acknowledged
# message lost or doubled under load with a stop in the middle; every kind
# of bad input (too long, exactly 1024 bytes, NUL and control bytes, a
# forged event, idle, byte-at-a-time and half-line clients, 1,100
# connections); what is at the socket path at start (a file, a directory, a
# live server, a stale socket) and the socket's mode; bad options; the
# client.
#
#   unshare --ipc bats tests/final.bats
#   STAGE=/some/copy bats tests/final.bats    (test a modified copy)

STAGE=${STAGE:-$BATS_TEST_DIRNAME/../final}

load helpers

bats_require_minimum_version 1.5.0 # run --separate-stderr

setup_file() { build_stage "$STAGE"; }

setup() {
    common_setup
    SERVER_PID=
    EXTRA_PIDS=() # clients started here, killed (with their children) in teardown
    MANY_PIDS=()  # the 1,100 idle connections, killed in one go
    ORPHANS=()    # workers of a master killed with SIGKILL
}

teardown() {
    local pid

    if [ "${#MANY_PIDS[@]}" -gt 0 ]; then
        kill -KILL "${MANY_PIDS[@]}" 2>/dev/null || true
        wait "${MANY_PIDS[@]}" 2>/dev/null || true
    fi
    for pid in "${EXTRA_PIDS[@]}"; do
        kill_tree "$pid"
        wait "$pid" 2>/dev/null || true
    done
    # No longer children of anyone here: kill them by pid.
    for pid in "${ORPHANS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${ORPHANS[@]}"; do
        wait_for "orphaned worker $pid to end" not_running "$pid" || true
    done
    # The server and its workers (start_bg) are killed here, and any queue
    # left behind is removed.
    common_teardown
}

# serve ARGS... - starts the server on $SOCK with ARGS and waits until it
# accepts connections.
serve() {
    start_server "$STAGE/server" -s "$SOCK" "$@"
}

# send_raw - sends standard input over one connection (nc -N half-closes
# once it has all been sent, then waits for the server to close) and prints
# the replies. Bounded by $DEADLINE, so a server that never answers fails
# the test instead of hanging it.
send_raw() {
    timeout "$DEADLINE" nc -U -N "$SOCK"
}

# received_count - how many messages the workers have logged so far.
received_count() {
    all_received "$OUT" | wc -l
}

# received_is N - true once exactly N messages have been logged.
received_is() {
    [ "$(received_count)" -eq "$1" ]
}

# received_at_least N - true once N messages or more have been logged.
received_at_least() {
    [ "$(received_count)" -ge "$1" ]
}

# logged LINE - true once the log holds LINE, exactly.
logged() {
    grep -q -x -F -- "$1" "$OUT"
}

# count_of LINE - how many lines of the log are exactly LINE.
count_of() {
    grep -c -x -F -- "$1" "$OUT"
}

# line_of LINE - the number of the (first) log line that is exactly LINE.
line_of() {
    grep -n -x -F -- "$1" "$OUT" | head -n 1 | cut -d: -f1
}

# sockets_are PID N - true when PID has exactly N sockets open.
sockets_are() {
    [ "$(sockets_of "$1")" -eq "$2" ]
}

# bytes_read PID - how many bytes PID has taken in with read(2) and its
# kin so far (rchar in /proc/PID/io).
bytes_read() {
    awk '$1 == "rchar:" { print $2 }' "/proc/$1/io"
}

# has_read PID N - true once PID has read at least N bytes.
has_read() {
    [ "$(bytes_read "$1")" -ge "$2" ]
}

# workers_are N - true once N workers have logged "started".
workers_are() {
    [ "$(worker_pids "$OUT" | wc -l)" -eq "$1" ]
}

# oked_messages MSGS REPLIES - the lines of file MSGS whose reply (the line
# at the same place in file REPLIES) was OK.
oked_messages() {
    paste -d '\t' "$2" "$1" | awk -F '\t' '$1 == "OK" { print $2 }'
}

# log_is_clean - every log line is an event of the master or of one of its
# workers ("master[PID]: " or "worker[PID]: " with the pid of this master
# or of a worker it started), holds no control byte, and every received
# line is one quoted string in which each quote and backslash is escaped.
log_is_clean() {
    local pids=$BATS_TEST_TMPDIR/pids

    { echo "$SERVER_PID"; worker_pids "$OUT"; } >"$pids"
    [ -z "$(grep -v -E '^(master|worker)\[[0-9]+\]: ' "$OUT")" ]
    [ -z "$(sed 's/^[a-z]*\[\([0-9]*\)\]: .*/\1/' "$OUT" | grep -v -x -F -f "$pids")" ]
    [ "$(LC_ALL=C tr -d -c '\000-\011\013-\037\177' <"$OUT" | wc -c)" -eq 0 ]
    [ -z "$(grep '^worker\[[0-9]*\]: received ' "$OUT" |
        grep -v -E '^worker\[[0-9]+\]: received "([^"\\]|\\.)*"$')" ]
}

# check_stopped_cleanly SIG N - the server, stopped by SIG, has exited with
# status 0 after the order SPEC 3 shows: "stopping on SIG" and "event loop
# stopped", then each of its N workers "exited", the master's "exited"
# last; and nothing is left: no worker, no queue, no socket file.
check_stopped_cleanly() {
    local sig=$1 n=$2 stopped pid
    local -a workers

    [ "$EXIT_STATUS" -eq 0 ]
    mapfile -t workers < <(worker_pids "$OUT")
    [ "${#workers[@]}" -eq "$n" ]
    [ "$(count_of "master[$SERVER_PID]: stopping on $sig")" -eq 1 ]
    [ "$(count_of "master[$SERVER_PID]: event loop stopped")" -eq 1 ]
    stopped=$(line_of "master[$SERVER_PID]: event loop stopped")
    [ "$(line_of "master[$SERVER_PID]: stopping on $sig")" -lt "$stopped" ]
    for pid in "${workers[@]}"; do
        [ "$(count_of "worker[$pid]: exited")" -eq 1 ]
        [ "$(line_of "worker[$pid]: exited")" -gt "$stopped" ]
    done
    [ "$(count_of "master[$SERVER_PID]: exited")" -eq 1 ]
    [ "$(tail -n 1 "$OUT")" = "master[$SERVER_PID]: exited" ]
    for pid in "${workers[@]}"; do
        not_running "$pid"
    done
    [ -z "$(new_queues)" ]
    [ ! -e "$SOCK" ]
    [ ! -s "$ERR" ]
}

# graceful_stop SIG - 15 messages queued on 3 slow workers, then SIG at
# once: every message is still handled, round-robin, before a clean exit.
graceful_stop() {
    local sig=$1

    serve -w 3 --work-ms 100
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" $(seq -f 'm%g' 15)
    [ "$status" -eq 0 ]
    [ "$(grep -c -x 'client: received "OK"' <<<"$output")" -eq 15 ]
    [ "$(new_queues | wc -l)" -eq 3 ]
    stop_server "$sig"
    check_stopped_cleanly "SIG$sig" 3
    check_round_robin 3 <(seq -f 'm%g' 15)
}

# bad_usage ARGS... - the server, given -s $SOCK and ARGS, exits 2 with
# nothing on standard output and the usage on standard error, having
# created nothing: no file in $WORK (the socket's directory, and the
# current one), no queue.
bad_usage() {
    local usage

    # The usage alone: --help adds the signals after a blank line.
    usage=$("$STAGE/server" --help | sed '/^$/,$d')
    cd "$WORK"
    run --separate-stderr timeout "$DEADLINE" "$STAGE/server" -s "$SOCK" "$@"
    [ "$status" -eq 2 ]
    [ -z "$output" ]
    [[ "$stderr" == *"$usage" ]]
    [ "${#stderr}" -gt "${#usage}" ] # and a line saying what is wrong
    [ -z "$(ls -A "$WORK")" ]
    [ -z "$(new_queues)" ]
}

# in_empty_dir - makes $WORK, an empty directory for the socket (and to run
# in), since bats keeps its own files in $BATS_TEST_TMPDIR.
in_empty_dir() {
    WORK=$BATS_TEST_TMPDIR/work
    mkdir "$WORK"
    SOCK=$WORK/master.sock
}

# not_a_socket_refused - the server refuses to start on a path that holds
# something other than a socket: exit 1, one line on standard error naming
# the path, no log line, no queue.
not_a_socket_refused() {
    run --separate-stderr timeout "$DEADLINE" "$STAGE/server" -s "$SOCK" -w 2
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *"$SOCK"* ]]
    [ -z "$(new_queues)" ]
}

# --- round-robin ---------------------------------------------------------

@test "-w 3: m1..m15 over one connection go round-robin, by content" {
    serve -w 3
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" $(seq -f 'm%g' 15)
    [ "$status" -eq 0 ]
    [ "$(grep -c -x 'client: received "OK"' <<<"$output")" -eq 15 ]
    [ "$(grep -c -x 'client: sent "m[0-9]*"' <<<"$output")" -eq 15 ]
    wait_for "15 messages received" received_is 15
    check_round_robin 3 <(seq -f 'm%g' 15)
}

@test "-w 5: m1..m15 over one connection go round-robin, by content" {
    serve -w 5
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" $(seq -f 'm%g' 15)
    [ "$status" -eq 0 ]
    [ "$(grep -c -x 'client: received "OK"' <<<"$output")" -eq 15 ]
    wait_for "15 messages received" received_is 15
    check_round_robin 5 <(seq -f 'm%g' 15)
}

# --- stopping ------------------------------------------------------------

@test "SIGINT: the queued messages are handled, then a clean stop, exit 0" {
    graceful_stop INT
}

@test "SIGTERM: the queued messages are handled, then a clean stop, exit 0" {
    graceful_stop TERM
}

@test "a second SIGINT during the stop terminates the workers; exit 0, nothing left" {
    local pid
    local -a workers

    serve -w 2 --work-ms 300
    # 40 messages of 300 ms on 2 workers: a graceful stop would take 6 s.
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" $(seq -f 'q%g' 40)
    [ "$status" -eq 0 ]
    wait_for "the first message received" received_at_least 1
    mapfile -t workers < <(worker_pids "$OUT")
    [ "${#workers[@]}" -eq 2 ]
    kill -INT "$SERVER_PID"
    wait_for "the stop to begin" logged "master[$SERVER_PID]: event loop stopped"
    running "$SERVER_PID"
    kill -INT "$SERVER_PID"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(count_of "master[$SERVER_PID]: SIGINT again: terminating the workers")" -eq 1 ]
    # The workers did not work through their queues.
    [ "$(received_count)" -lt 40 ]
    [ "$(tail -n 1 "$OUT")" = "master[$SERVER_PID]: exited" ]
    for pid in "${workers[@]}"; do
        not_running "$pid"
    done
    [ -z "$(new_queues)" ]
    [ ! -e "$SOCK" ]
    log_is_clean
}

@test "a second SIGINT ends the stop even with a worker stopped by SIGSTOP" {
    local w pid

    serve -w 2
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" s1 s2
    [ "$status" -eq 0 ]
    wait_for "both messages received" received_at_least 2
    w=$(worker_pids "$OUT" | head -n 1)
    kill -STOP "$w"
    wait_for "worker $w to stop" eval '[ "$(sed -n "s/.*) \(.\).*/\1/p" "/proc/$w/stat")" = T ]'
    # The stopped worker cannot read its exit message: the stop waits...
    kill -INT "$SERVER_PID"
    wait_for "the stop to begin" logged "master[$SERVER_PID]: event loop stopped"
    running "$SERVER_PID"
    # ...until the second signal, whose SIGTERM must reach it too.
    kill -INT "$SERVER_PID"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    for pid in $(worker_pids "$OUT"); do
        not_running "$pid"
    done
    [ -z "$(new_queues)" ]
    [ ! -e "$SOCK" ]
}

@test "zero loss: 4 clients pipeline 5,000 messages each, SIGINT midway; every OK received exactly once" {
    local dir=$BATS_TEST_TMPDIR b c oked pid

    # 1 ms of work per message: the queues fill up (BUSY for some), and the
    # stop finds acknowledged messages waiting on them.
    serve -w 3 --work-ms 1
    for c in 1 2 3 4; do
        seq -f "c$c-%g" 5000 >"$dir/c$c.msgs"
        # 50 bursts of 100 lines, so that the stop comes while they still
        # send. Reply k answers line k; the server closes the connection
        # when it stops, and nc ends then.
        {
            for ((b = 0; b < 50; b++)); do
                sed -n "$((b * 100 + 1)),$((b * 100 + 100))p" "$dir/c$c.msgs" ||
                    break # nc has gone: SIGPIPE
                sleep 0.02
            done | nc -U -N "$SOCK" >"$dir/c$c.replies" 2>/dev/null
        } 3>&- &
        EXTRA_PIDS+=($!)
    done
    wait_for "1,000 messages received" received_at_least 1000
    kill -INT "$SERVER_PID"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    for pid in "${EXTRA_PIDS[@]}"; do
        wait_exit "$pid"
    done
    for c in 1 2 3 4; do
        [ "$(wc -l <"$dir/c$c.replies")" -le 5000 ]
        [ -z "$(grep -v -x -e OK -e BUSY "$dir/c$c.replies")" ]
    done
    oked=$(for c in 1 2 3 4; do
        oked_messages "$dir/c$c.msgs" "$dir/c$c.replies"
    done | sort)
    [ -n "$oked" ]
    # Exactly the OK ones, each exactly once: the sorted lists, duplicates
    # and all, are the same.
    [ "$(all_received "$OUT" | sort)" = "$oked" ]
    [ "$(tail -n 1 "$OUT")" = "master[$SERVER_PID]: exited" ]
    [ -z "$(new_queues)" ]
    [ ! -e "$SOCK" ]
    [ ! -s "$ERR" ]
}

# --- bad input -----------------------------------------------------------

@test "a 1025-byte message gets ERR message too long, and the next one OK" {
    serve -w 2
    run send_raw < <(printf '%01025d\n' 0; echo normal)
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [ "${lines[0]}" = "ERR message too long" ]
    [ "${lines[1]}" = OK ]
    wait_for "the normal message received" was_received normal
    [ "$(received_count)" -eq 1 ]
}

@test "a message of exactly 1024 bytes is OK and arrives whole" {
    local msg

    msg=$(printf 'x%01023d' 7)
    serve -w 2
    run send_raw <<<"$msg"
    [ "$status" -eq 0 ]
    [ "$output" = OK ]
    wait_for "the message received" received_is 1
    [ "$(all_received "$OUT")" = "$msg" ]
}

@test "an empty line gets ERR empty message, and the connection goes on" {
    serve -w 2
    run send_raw < <(printf '\nx\n')
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [ "${lines[0]}" = "ERR empty message" ]
    [ "${lines[1]}" = OK ]
    wait_for "x received" was_received x
    [ "$(received_count)" -eq 1 ]
}

@test "a NUL byte inside a message is logged as \\x00" {
    serve -w 2
    run send_raw < <(printf 'a\0b\n')
    [ "$status" -eq 0 ]
    [ "$output" = OK ]
    wait_for "the message received" received_is 1
    [ "$(all_received "$OUT")" = 'a\x00b' ]
    log_is_clean
}

@test "control bytes, ESC, DEL, quotes and backslashes are escaped" {
    serve -w 2
    run send_raw < <(printf 'c\001\033[31mred\t\r\177"\\z\n')
    [ "$status" -eq 0 ]
    [ "$output" = OK ]
    wait_for "the message received" received_is 1
    [ "$(all_received "$OUT")" = 'c\x01\x1b[31mred\t\r\x7f\"\\z' ]
    log_is_clean
}

@test "a client cannot forge an event line" {
    serve -w 3
    # The newlines split this into three messages, each of which tries to
    # look like the end of a quoted string or a whole event.
    run send_raw < <(printf 'x"\nmaster[1]: exited\nworker[2]: received "y"\n')
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 3 ]
    wait_for "three messages received" received_is 3
    stop_server INT
    check_stopped_cleanly SIGINT 3
    log_is_clean
    [ "$(all_received "$OUT" | sort)" = "$(printf '%s\n' 'master[1]: exited' 'worker[2]: received \"y\"' 'x\"' | sort)" ]
    [ "$(count_of 'master[1]: exited')" -eq 0 ]
    [ "$(grep -c -F 'master[1]: exited' "$OUT")" -eq 1 ]
    # The only "exited" events: 3 workers and the master.
    [ "$(grep -c -E '^(master|worker)\[[0-9]+\]: exited$' "$OUT")" -eq 4 ]
}

@test "UTF-8 passes through unchanged" {
    local msg='héllo wörld, 日本語, 🙂'

    serve -w 2
    run send_raw <<<"$msg"
    [ "$status" -eq 0 ]
    [ "$output" = OK ]
    wait_for "the message received" received_is 1
    [ "$(all_received "$OUT")" = "$msg" ]
}

@test "an idle client delays neither another client nor the stop" {
    local hold=$BATS_TEST_TMPDIR/hold idle writer

    serve -w 2
    # Only the listener once start_server's probe connection is gone.
    wait_for "the probe connection to close" sockets_are "$SERVER_PID" 1
    # nc reads its standard input from a FIFO that we hold open and never
    # write to: it connects, sends nothing, and never closes.
    mkfifo "$hold"
    nc -U "$SOCK" <"$hold" >/dev/null 2>&1 3>&- &
    idle=$!
    EXTRA_PIDS+=("$idle")
    exec {writer}>"$hold"
    wait_for "the master to accept the idle connection" \
        sockets_are "$SERVER_PID" 2

    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" hello
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    wait_for "hello received" was_received hello
    running "$idle"
    # The stop closes the idle connection; it does not wait for it.
    stop_server INT
    check_stopped_cleanly SIGINT 2
    wait_exit "$idle"
    exec {writer}>&-
}

@test "a message sent one byte at a time arrives whole" {
    local in=$BATS_TEST_TMPDIR/in replies=$BATS_TEST_TMPDIR/replies
    local msg='hello, one byte at a time' sender writer base i

    serve -w 2
    mkfifo "$in"
    nc -U -N "$SOCK" <"$in" >"$replies" 2>&1 3>&- &
    sender=$!
    EXTRA_PIDS+=("$sender")
    exec {writer}>"$in"
    base=$(bytes_read "$SERVER_PID")
    # Each byte is sent only once the master has read the one before, so
    # every read(2) of the master returns exactly one byte.
    for ((i = 0; i < ${#msg}; i++)); do
        printf '%s' "${msg:i:1}" >&"$writer"
        wait_for "the master to read byte $i" \
            has_read "$SERVER_PID" $((base + i + 1))
    done
    [ "$(received_count)" -eq 0 ]
    printf '\n' >&"$writer"
    exec {writer}>&-
    wait_exit "$sender"
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(cat "$replies")" = OK ]
    wait_for "the message received" received_is 1
    [ "$(all_received "$OUT")" = "$msg" ]
}

@test "a client that closes after half a line: the half line is a message" {
    serve -w 2
    run send_raw < <(printf 'partial')
    [ "$status" -eq 0 ]
    [ "$output" = OK ]
    wait_for "the message received" received_is 1
    [ "$(all_received "$OUT")" = partial ]
}

@test "1,100 connections at once: no crash, then OK for a client, then a clean stop" {
    local limit=2048 i hard

    # Let the master hold more descriptors than select() can watch, so
    # that accept() returns numbers from FD_SETSIZE (1024) up; with the
    # usual limit of 1024, accept() fails with EMFILE first.
    hard=$(ulimit -H -n)
    if [[ "$hard" != unlimited && "$hard" -lt "$limit" ]]; then
        limit=$hard
    fi
    start_server bash -c 'ulimit -n "$1" && exec "${@:2}"' _ "$limit" \
        "$STAGE/server" -s "$SOCK" -w 2
    for i in $(seq 1100); do
        nc -U "$SOCK" </dev/null >/dev/null 2>&1 3>&- &
        MANY_PIDS+=($!)
    done
    # Every connection is held or was refused, or the master has run out of
    # descriptors (then the rest wait in the listen backlog).
    wait_for "the master to take every connection it can" \
        bash -c '[ $(($(find /proc/$1/fd -lname "socket:*" | wc -l) - 1 +
            $(grep -c "beyond FD_SETSIZE" "$2"))) -eq 1100 ] ||
            grep -q "out of file descriptors" "$2"' _ "$SERVER_PID" "$OUT"
    running "$SERVER_PID"
    if [ "$limit" -ge 2048 ]; then
        grep -q -E '^master\[[0-9]+\]: connection refused: descriptor [0-9]+ is beyond FD_SETSIZE \(1024\)$' "$OUT"
    fi

    kill -KILL "${MANY_PIDS[@]}"
    wait "${MANY_PIDS[@]}" 2>/dev/null || true
    MANY_PIDS=()
    wait_for "every connection to close" sockets_are "$SERVER_PID" 1
    running "$SERVER_PID"
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" after
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    wait_for "the message received" was_received after
    stop_server INT
    check_stopped_cleanly SIGINT 2
}

# --- the socket path -----------------------------------------------------

@test "a regular file at the socket path: exit 1, one line, file untouched" {
    printf 'precious\n' >"$SOCK"
    not_a_socket_refused
    [ -f "$SOCK" ]
    [ "$(cat "$SOCK")" = precious ]
}

@test "a directory at the socket path: exit 1, one line, directory untouched" {
    mkdir "$SOCK"
    echo keep >"$SOCK/file"
    not_a_socket_refused
    [ -d "$SOCK" ]
    [ "$(cat "$SOCK/file")" = keep ]
}

@test "a second server on a live path: exit 1 naming the path; the first goes on" {
    serve -w 2
    [ "$(new_queues | wc -l)" -eq 2 ]
    run --separate-stderr timeout "$DEADLINE" "$STAGE/server" -s "$SOCK" -w 3
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = "server: $SOCK: already in use by a running server" ]
    [ "$(new_queues | wc -l)" -eq 2 ]
    [ -S "$SOCK" ]
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" still
    [ "$status" -eq 0 ]
    wait_for "the message received" was_received still
    stop_server INT
    check_stopped_cleanly SIGINT 2
}

# bats test_tags=master-death
@test "a stale socket (master killed with SIGKILL) is reused by the next server" {
    local pid

    serve -w 2
    wait_for "two workers" workers_are 2
    mapfile -t ORPHANS < <(worker_pids "$OUT")
    kill -KILL "$SERVER_PID"
    wait_exit "$SERVER_PID"
    # The workers see their master die (PR_SET_PDEATHSIG), remove their
    # queues and leave by themselves.
    for pid in "${ORPHANS[@]}"; do
        wait_for "worker $pid to leave" not_running "$pid"
    done
    [ -z "$(new_queues)" ]
    [ -S "$SOCK" ]

    OUT=$BATS_TEST_TMPDIR/second.out
    ERR=$BATS_TEST_TMPDIR/second.err
    serve -w 2
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" again
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    wait_for "the message received" was_received again
    stop_server INT
    check_stopped_cleanly SIGINT 2
}

@test "the socket has mode 0600, whatever the umask" {
    start_server bash -c 'umask 000 && exec "$@"' _ "$STAGE/server" -s "$SOCK"
    [ -S "$SOCK" ]
    [ "$(stat -c %a "$SOCK")" = 600 ]
}

@test "a 107-byte socket path (the longest that fits) works" {
    local name

    name=$(printf '%*s' $((107 - ${#BATS_TEST_TMPDIR} - 1)) '' | tr ' ' s)
    SOCK=$BATS_TEST_TMPDIR/$name
    [ "${#SOCK}" -eq 107 ]
    serve -w 1
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" long
    [ "$status" -eq 0 ]
    stop_server INT
    check_stopped_cleanly SIGINT 1
}

# --- bad options ---------------------------------------------------------

@test "bad usage: -w 0" {
    in_empty_dir
    bad_usage -w 0
}

@test "bad usage: -w 65" {
    in_empty_dir
    bad_usage -w 65
}

@test "bad usage: -w abc" {
    in_empty_dir
    bad_usage -w abc
}

@test "bad usage: -w ''" {
    in_empty_dir
    bad_usage -w ''
}

@test "bad usage: a socket path of 108 bytes" {
    local name

    in_empty_dir
    name=$(printf '%*s' $((108 - ${#WORK} - 1)) '' | tr ' ' s)
    SOCK=$WORK/$name
    [ "${#SOCK}" -eq 108 ]
    bad_usage
}

@test "bad usage: --bogus" {
    in_empty_dir
    bad_usage --bogus
}

@test "bad usage: -t -1" {
    in_empty_dir
    bad_usage -t -1
}

@test "bad usage: a stray argument" {
    in_empty_dir
    bad_usage stray
}

@test "-h and --help: usage on standard output, exit 0, nothing created" {
    in_empty_dir
    cd "$WORK"
    run --separate-stderr "$STAGE/server" -h
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "usage: server [options]" ]
    [[ "$output" == *"--work-ms MS"* ]]
    [ -z "$stderr" ]
    run --separate-stderr "$STAGE/server" --help
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "usage: server [options]" ]
    [ -z "$stderr" ]
    [ -z "$(ls -A "$WORK")" ]
    [ -z "$(new_queues)" ]
}

# --- the client ----------------------------------------------------------

@test "client with no server: exit 1, one line on stderr naming the path" {
    run --separate-stderr timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" hi
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *"$SOCK"* ]]
}

@test "client: the default message is hello" {
    serve -w 2
    run --separate-stderr timeout "$DEADLINE" "$STAGE/client" -s "$SOCK"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [ "${lines[0]}" = 'client: sent "hello"' ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    [ -z "$stderr" ]
    wait_for "hello received" was_received hello
}

@test "client: a reply other than OK makes it exit 1, and it goes on" {
    serve -w 2
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" first "$(printf '%01025d' 0)" last
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 6 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    [ "${lines[3]}" = 'client: received "ERR message too long"' ]
    [ "${lines[4]}" = 'client: sent "last"' ]
    [ "${lines[5]}" = 'client: received "OK"' ]
    wait_for "two messages received" received_is 2
}

@test "client: bad usage exits 2" {
    local name

    run --separate-stderr "$STAGE/client" -x
    [ "$status" -eq 2 ]
    [[ "$stderr" == *usage:* ]]
    run --separate-stderr "$STAGE/client" -s
    [ "$status" -eq 2 ]
    name=$(printf '%*s' $((108 - ${#BATS_TEST_TMPDIR} - 1)) '' | tr ' ' s)
    run --separate-stderr "$STAGE/client" -s "$BATS_TEST_TMPDIR/$name" hi
    [ "$status" -eq 2 ]
    run --separate-stderr "$STAGE/client" -s "$SOCK" "$(printf 'two\nlines')"
    [ "$status" -eq 2 ]
}

# bats test_tags=robust
@test "descriptors 0 and 1 closed at start: both get /dev/null, so no socket or pipe takes their numbers" {
    # Not start_bg: it would give the server a standard output.
    "$STAGE/server" -s "$SOCK" -w 1 <&- >&- 2>"$ERR" 3>&- &
    SERVER_PID=$!
    BG_PIDS+=("$SERVER_PID")
    OWN_PIDS+=("$SERVER_PID")
    wait_for "a connection to $SOCK" nc -U -z "$SOCK"
    run "$STAGE/client" -s "$SOCK" hi
    [ "$status" -eq 0 ]
    [ "$(readlink "/proc/$SERVER_PID/fd/0")" = /dev/null ]
    [ "$(readlink "/proc/$SERVER_PID/fd/1")" = /dev/null ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ ! -s "$ERR" ]
}
