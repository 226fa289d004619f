#!/usr/bin/env bats
# step3.bats - chapter 3: clients reach the master over a Unix-domain socket.
# Messages sent with ./client go round-robin (checked by content); the
# client prints what it sent and got and exits 0 or 1; a socket path too
# long for sun_path is a usage error; a regular file, a directory or a live
# server at the path is left alone, a stale socket is replaced; the socket
# is born 0600; workers do not hold the listening socket; a 1025-byte
# message gets ERR; a client that leaves early does not kill the master
# (SIGPIPE ignored). Also pinned down, as README.md shows them: one read(2)
# is not one message (merged and split messages), and SIGTERM kills the
# master at once, leaving its workers, queues and socket file behind
# (chapters 4 and 5 fix these).
#
#   unshare --ipc bats tests/step3.bats
#   STAGE=/some/copy bats tests/step3.bats    (test a modified copy)

bats_require_minimum_version 1.5.0

STAGE=${STAGE:-$BATS_TEST_DIRNAME/../step3-unix-socket}

load helpers

setup_file() { build_stage "$STAGE"; }

setup() {
    common_setup
    SERVER_PID=
    ORPHANS=()     # workers whose master is gone: killed here, by pid
    EXTRA_PIDS=()  # clients started by a test
}

teardown() {
    local pid

    for pid in "${EXTRA_PIDS[@]}" "${ORPHANS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${EXTRA_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    for pid in "${ORPHANS[@]}"; do
        wait_for "orphaned worker $pid to end" not_running "$pid" || true
    done
    # A running master and its workers: common_teardown kills them (the
    # workers first, found by their parent pid), then removes the queues.
    common_teardown
}

# reaped PID - PID has ended and been waited for: drop it from the list
# common_teardown kills, since its number may already belong to some other
# process by then (pids wrap around on a busy machine).
reaped() {
    local pid
    local -a keep=()

    for pid in "${BG_PIDS[@]}"; do
        [ "$pid" = "$1" ] || keep+=("$pid")
    done
    BG_PIDS=("${keep[@]}")
}

# serve ARGS... - starts the server on $SOCK with ARGS and waits until it
# accepts connections. Its log is in $OUT, its pid in $SERVER_PID.
serve() {
    start_server "$STAGE/server" -s "$SOCK" "$@"
}

# server_fails ARGS... - runs a server that is expected to stop at once,
# with its output in $OUT2 and $ERR2, and waits for it to end (exit status
# in $EXIT_STATUS). Not `run`: if a bug let it start, its workers would
# hold run's output pipe open and hang the test; started with start_bg, a
# server that does not stop fails the test and is killed in teardown.
OUT2='' ERR2=''
server_fails() {
    local OUT=$BATS_TEST_TMPDIR/second.out ERR=$BATS_TEST_TMPDIR/second.err

    OUT2=$OUT ERR2=$ERR
    start_bg "$STAGE/server" "$@"
    wait_exit "$BG_PID"
    reaped "$BG_PID"
}

# client ARGS... - the client, bounded by $DEADLINE.
client() {
    timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" "$@"
}

# send_raw - sends standard input over one connection (nc -N half-closes
# once it has all been sent) and prints what comes back.
send_raw() {
    timeout "$DEADLINE" nc -U -N "$SOCK"
}

# workers_are N - true once N workers have logged "started".
workers_are() {
    [ "$(worker_pids "$OUT" | wc -l)" -eq "$1" ]
}

# received_is N - true once exactly N messages have been logged.
received_is() {
    [ "$(all_received "$OUT" | wc -l)" -eq "$1" ]
}

# sockets_are PID N - true when PID has exactly N sockets open.
sockets_are() {
    [ "$(sockets_of "$1")" -eq "$2" ]
}

# orphan_gone PID - the orphaned worker PID has ended: no process runs with
# that pid, or one runs that is not the test's (the kernel gave the pid to
# another process once the worker was reaped).
orphan_gone() {
    if running "$1" && tagged "$1"; then return 1; fi
}

# end_orphans - kills the workers in ORPHANS that still run, and waits
# until none does. Only those: chapter 3's orphans wait for work forever,
# but the final's see their master die and leave by themselves, and an
# init process that reaps orphans (systemd does) has then already freed
# their pids, which `kill` would call "No such process", or which another
# process may have taken (so each is checked for the test's mark first).
end_orphans() {
    local pid

    for pid in "${ORPHANS[@]}"; do
        if ! orphan_gone "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${ORPHANS[@]}"; do
        wait_for "orphaned worker $pid to end" orphan_gone "$pid"
    done
    ORPHANS=()
}

# parent_of PID - PID's parent pid.
parent_of() {
    awk '$1 == "PPid:" { print $2 }' "/proc/$1/status"
}

@test "-w 3: 9 messages sent with ./client go round-robin, by content" {
    serve -w 3
    run client $(seq -f 'm%g' 9)
    [ "$status" -eq 0 ]
    [ "$(grep -c -x 'client: sent "m[0-9]"' <<<"$output")" -eq 9 ]
    [ "$(grep -c -x 'client: received "OK"' <<<"$output")" -eq 9 ]
    wait_for "9 messages received" received_is 9
    check_round_robin 3 <(seq -f 'm%g' 9)
}

@test "-w 4: 10 messages go round-robin, the first two workers get one more" {
    serve -w 4
    run client $(seq -f 'm%g' 10)
    [ "$status" -eq 0 ]
    [ "$(grep -c -x 'client: received "OK"' <<<"$output")" -eq 10 ]
    wait_for "10 messages received" received_is 10
    check_round_robin 4 <(seq -f 'm%g' 10)
    [ "$(received_by "$(worker_of m1)" "$OUT" | wc -l)" -eq 3 ]
    [ "$(received_by "$(worker_of m4)" "$OUT" | wc -l)" -eq 2 ]
}

@test "the client prints what it sent and what came back, and exits 0" {
    serve -w 2
    run --separate-stderr client hello 'two words'
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 4 ]
    [ "${lines[0]}" = 'client: sent "hello"' ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    [ "${lines[2]}" = 'client: sent "two words"' ]
    [ "${lines[3]}" = 'client: received "OK"' ]
    [ -z "$stderr" ]
    wait_for "both messages received" received_is 2
    [ "$(all_received "$OUT" | sort | tr '\n' '|')" = "hello|two words|" ]
}

@test "the client sends hello by default; the server listens on master.sock" {
    cd "$BATS_TEST_TMPDIR"
    SOCK=master.sock
    start_server "$STAGE/server" -w 1
    [ -S master.sock ]
    run timeout "$DEADLINE" "$STAGE/client"
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf 'client: sent "hello"\nclient: received "OK"')" ]
    wait_for "hello received" was_received hello
}

@test "odd bytes are escaped in the log and by the client" {
    serve -w 1
    run client 'say "hi"' 'back\slash' $'tab\there'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = 'client: sent "say \"hi\""' ]
    [ "${lines[2]}" = 'client: sent "back\\slash"' ]
    [ "${lines[4]}" = 'client: sent "tab\there"' ]
    wait_for "3 messages received" received_is 3
    [ "$(all_received "$OUT" | sed -n 1p)" = 'say \"hi\"' ]
    [ "$(all_received "$OUT" | sed -n 2p)" = 'back\\slash' ]
    [ "$(all_received "$OUT" | sed -n 3p)" = 'tab\there' ]
}

@test "no server: the client exits 1 with one line naming the path" {
    run --separate-stderr client hi
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [ "$stderr" = "client: $SOCK: No such file or directory" ]
}

@test "a socket path longer than sun_path holds is a usage error, and creates nothing" {
    not_carried_to final "the final words this error as final/SPEC.md says"
    local dir=$BATS_TEST_TMPDIR/empty long

    mkdir "$dir"
    cd "$dir"
    long=$(printf 'a%.0s' {1..108})
    server_fails -s "$long"
    [ "$EXIT_STATUS" -eq 2 ]
    [ ! -s "$OUT2" ]
    [ "$(sed -n 1p "$ERR2")" = "server: bad socket path '$long': File name too long (at most 107 bytes)" ]
    grep -q '^usage: server ' "$ERR2"
    [ -z "$(ls -A "$dir")" ]
    [ -z "$(new_queues)" ]
    # The client refuses it the same way.
    run --separate-stderr "$STAGE/client" -s "$long" hi
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "client: bad socket path '$long': File name too long" ]
}

@test "a socket path of exactly 107 bytes works, and is not cut" {
    cd "$BATS_TEST_TMPDIR"
    SOCK=$(printf 'b%.0s' {1..107})
    serve -w 1
    [ -S "$SOCK" ]
    [ "$(find . -maxdepth 1 -type s | wc -l)" -eq 1 ]
    run client hi
    [ "$status" -eq 0 ]
    wait_for "hi received" was_received hi
}

@test "a regular file at the socket path: exit 1, the file is left untouched" {
    local before

    printf 'my notes\nline two\n' >"$SOCK"
    cp "$SOCK" "$BATS_TEST_TMPDIR/copy"
    before=$(stat -c '%i %s %Y' "$SOCK")
    server_fails -s "$SOCK" -w 2
    [ "$EXIT_STATUS" -eq 1 ]
    [ "$(cat "$ERR2")" = "server: $SOCK: exists and is not a socket; not removed" ]
    [ ! -s "$OUT2" ]
    [ -f "$SOCK" ]
    cmp "$SOCK" "$BATS_TEST_TMPDIR/copy"
    [ "$(stat -c '%i %s %Y' "$SOCK")" = "$before" ]
    [ -z "$(new_queues)" ]
}

@test "a directory at the socket path: exit 1, the directory is left alone" {
    # Empty: even rmdir(2) would succeed on it.
    mkdir "$SOCK"
    server_fails -s "$SOCK"
    [ "$EXIT_STATUS" -eq 1 ]
    [ "$(cat "$ERR2")" = "server: $SOCK: exists and is not a socket; not removed" ]
    [ -d "$SOCK" ]
    [ -z "$(new_queues)" ]
}

@test "a second server on the path of a running one exits 1; the first goes on" {
    local queues

    serve -w 2
    wait_for "two workers" workers_are 2
    queues=$(new_queues)
    server_fails -s "$SOCK" -w 2
    [ "$EXIT_STATUS" -eq 1 ]
    [ "$(cat "$ERR2")" = "server: $SOCK: already in use by a running server" ]
    [ ! -s "$OUT2" ]
    [ "$(new_queues)" = "$queues" ]
    running "$SERVER_PID"
    [ -S "$SOCK" ]
    run client still-here
    [ "$status" -eq 0 ]
    wait_for "the message received by the first server" was_received still-here
}

@test "a stale socket file left by a SIGKILLed server is replaced" {
    serve -w 2
    wait_for "two workers" workers_are 2
    mapfile -t ORPHANS < <(worker_pids "$OUT")
    kill -KILL "$SERVER_PID"
    wait_exit "$SERVER_PID"
    reaped "$SERVER_PID"
    [ -S "$SOCK" ]
    run --separate-stderr client hi
    [ "$status" -eq 1 ]
    [ "$stderr" = "client: $SOCK: Connection refused" ]

    OUT=$BATS_TEST_TMPDIR/second.out
    ERR=$BATS_TEST_TMPDIR/second.err
    serve -w 2
    [ ! -s "$ERR" ]
    run client again
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    wait_for "the message received by the new server" was_received again

    # The first server's workers are orphans now: end them here.
    end_orphans
}

@test "the socket file is born with mode 0600, whatever the umask" {
    start_server bash -c 'umask 000 && exec "$@"' _ "$STAGE/server" -s "$SOCK"
    [ "$(stat -c %F "$SOCK")" = socket ]
    [ "$(stat -c %a "$SOCK")" = 600 ]
}

@test "the workers do not hold the listening socket" {
    local pid

    serve -w 3
    wait_for "three workers" workers_are 3
    for pid in $(worker_pids "$OUT"); do
        [ "$(sockets_of "$pid")" -eq 0 ]
    done
    [ "$(sockets_of "$SERVER_PID")" -ge 1 ]
}

@test "a 1025-byte message gets ERR message too long; 1024 bytes is OK" {
    local long ok

    long=$(printf 'x%.0s' {1..1025})
    ok=$(printf 'y%.0s' {1..1024})
    # One worker, so messages are logged in the order they were queued.
    serve -w 1
    run --separate-stderr client "$long"
    [ "$status" -eq 1 ]
    [ "${lines[0]}" = "client: sent \"$long\"" ]
    [ "${lines[1]}" = 'client: received "ERR message too long"' ]
    run client "$ok"
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    wait_for "the 1024-byte message received" was_received "$ok"
    # The long one was never queued.
    [ "$(all_received "$OUT" | wc -l)" -eq 1 ]
}

@test "bad usage: exit 2 with the usage text" {
    local args

    for args in "-w 0" "-w 65" "-w abc" "-x" "extra"; do
        # shellcheck disable=SC2086
        server_fails -s "$SOCK" $args
        [ "$EXIT_STATUS" -eq 2 ]
        grep -q '^usage: server ' "$ERR2"
        [ ! -e "$SOCK" ]
    done
    [ -z "$(new_queues)" ]
    run --separate-stderr "$STAGE/client" -x
    [ "$status" -eq 2 ]
    [[ "$stderr" == *"usage: client "* ]]
}

@test "-h prints the usage on standard output and exits 0" {
    not_carried_to final "the final's usage is final/SPEC.md's"
    run --separate-stderr "$STAGE/server" -h
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "usage: server [-w N] [-s PATH]" ]
    [ -z "$stderr" ]
}

# What can go wrong, as README.md shows it: a stream has no message
# boundaries, and the master takes whatever one read(2) returns.

@test "known fault: two lines in one write become one message" {
    own_chapter_only "a fault chapter 4 fixes"
    serve -w 2
    run send_raw < <(printf 'a\nb\n')
    [ "$status" -eq 0 ]
    [ "$output" = OK ]
    wait_for "one message received" received_is 1
    [ "$(all_received "$OUT")" = 'a\x0ab' ]
}

@test "known fault: a message in two writes is cut, the rest lost" {
    own_chapter_only "a fault chapter 4 fixes"
    local replies=$BATS_TEST_TMPDIR/replies

    # One worker: it logs in queue order, so once the marker below is
    # logged, anything queued before it has been logged too.
    serve -w 1
    # The second half is written only once the first is logged, so the
    # master has read it and closed the connection. Writing it may then
    # fail (EPIPE): that is the point, and it must not end the test.
    {
        printf 'hel'
        wait_for "hel received" was_received hel
        printf 'lo\n'
    } 2>/dev/null | send_raw >"$replies"
    [ "$(cat "$replies")" = OK ]
    # A marker sent afterwards: once it is in, "lo" would have been too.
    run client marker
    [ "$status" -eq 0 ]
    wait_for "the marker received" was_received marker
    [ "$(all_received "$OUT" | sort | tr '\n' '|')" = "hel|marker|" ]
}

@test "a client that leaves before its reply does not kill the master" {
    own_chapter_only "needs chapter 3's blocking read"
    local hold=$BATS_TEST_TMPDIR/hold replies=$BATS_TEST_TMPDIR/replies
    local idle writer gone

    serve -w 2
    # Once this reply is in, the master has taken start_server's probe
    # connection too (the backlog is first come, first served).
    run client first
    [ "$status" -eq 0 ]
    wait_for "the master to close the connection" sockets_are "$SERVER_PID" 1
    # A silent client holds the master in read(2)...
    mkfifo "$hold"
    nc -U "$SOCK" <"$hold" >"$replies" 2>&1 3>&- &
    idle=$!
    EXTRA_PIDS+=("$idle")
    exec {writer}>"$hold"
    wait_for "the master to accept the silent client" sockets_are "$SERVER_PID" 2
    # ...so this one waits in the backlog, sends its line and is gone
    # before the master gets to it.
    printf 'bye\n' | timeout "$DEADLINE" socat -u - "UNIX-CONNECT:$SOCK" 3>&- &
    gone=$!
    EXTRA_PIDS+=("$gone")
    wait_exit "$gone"
    EXTRA_PIDS=("$idle")
    [ "$EXIT_STATUS" -eq 0 ]
    # Now the silent client speaks; then the master reads "bye" and its
    # reply meets a closed socket: EPIPE, not a fatal SIGPIPE.
    printf 'hi\n' >&"$writer"
    exec {writer}>&-
    wait_for "the reply to fail with EPIPE" grep -q -x 'server: write reply: Broken pipe' "$ERR"
    running "$SERVER_PID"
    wait_for "the silent client's reply" grep -q -x OK "$replies"
    # The master closed that connection after its reply, so nc ends.
    wait_exit "$idle"
    EXTRA_PIDS=()
    run client after
    [ "$status" -eq 0 ]
    wait_for "four messages received" received_is 4
    [ "$(all_received "$OUT" | sort | tr '\n' '|')" = "after|bye|first|hi|" ]
}

@test "known fault: SIGTERM kills the master at once; workers, queues and socket stay" {
    own_chapter_only "a fault chapter 5 fixes"
    local pid

    serve -w 3
    wait_for "three workers" workers_are 3
    mapfile -t ORPHANS < <(worker_pids "$OUT")
    [ "$(new_queues | wc -l)" -eq 3 ]
    kill -TERM "$SERVER_PID"
    wait_exit "$SERVER_PID"
    reaped "$SERVER_PID"
    # Killed by the signal's default action: 128 + 15.
    [ "$EXIT_STATUS" -eq 143 ]
    [ "$(grep -c '^master' "$OUT")" -eq 1 ]
    for pid in "${ORPHANS[@]}"; do
        running "$pid"
        [ "$(parent_of "$pid")" != "$SERVER_PID" ]
    done
    [ "$(new_queues | wc -l)" -eq 3 ]
    [ -S "$SOCK" ]

    # End the orphans here; common_teardown removes the queues.
    end_orphans
}
