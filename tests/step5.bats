#!/usr/bin/env bats
# step5.bats - chapter 5: SIGINT and SIGTERM stop the pool cleanly. The
# master leaves its loop through the self-pipe, removes its socket file,
# answers what it has read, sends each worker an exit message behind its
# data, reaps the workers, removes the queues and exits 0. Workers ignore
# SIGINT (Ctrl-C reaches the whole process group) and keep SIGTERM default.
# A stop never waits on a full queue or for a dead worker, a second signal
# ends it, and the log counts the OK'd messages it leaves behind.
#
#   bats tests/step5.bats
#   STAGE=/some/copy bats tests/step5.bats    (test a modified copy)

STAGE=${STAGE:-$BATS_TEST_DIRNAME/../step5-signals}

load helpers

setup_file() { build_stage "$STAGE"; }

setup() {
    common_setup
    WORKERS=3
}

teardown() { common_teardown; }

# workers_started N - true once N workers have logged "started".
workers_started() {
    [ "$(worker_pids "$OUT" | wc -l)" -ge "$1" ]
}

# start_pool [ARGS...] - starts the server on $SOCK with $WORKERS workers
# and waits until it accepts connections and every worker has started.
start_pool() {
    start_server "$STAGE/server" -s "$SOCK" -w "$WORKERS" "$@"
    wait_for "$WORKERS workers to start" workers_started "$WORKERS"
}

# start_client NAME CMD ARGS... - start_bg with the output in $NAME.out and
# $NAME.err in the test directory (not in $OUT and $ERR, the server's).
start_client() {
    local name=$BATS_TEST_TMPDIR/$1
    shift
    OUT=$name.out ERR=$name.err start_bg "$@"
}

# line_of TEXT - the number of the log line that is exactly TEXT (fixed
# string), or nothing.
line_of() {
    grep -n -x -F -- "$1" "$OUT" | cut -d: -f1
}

# sig_bit PID FIELD SIGNUM - prints 1 if signal SIGNUM is set in the mask
# FIELD (SigIgn, SigCgt, SigBlk) of /proc/PID/status, else 0. Bit n-1 of the
# hexadecimal mask stands for signal n.
sig_bit() {
    local mask
    mask=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status")
    echo $(((0x$mask >> ($3 - 1)) & 1))
}

# count_received TEXT - how many times a worker logged TEXT as received.
count_received() {
    all_received "$OUT" | grep -c -x -F -- "$1" || true
}

# check_clean_stop SIGNAME - after the master has ended: it said why it
# stopped, exited 0, left no socket file, no queue and no worker, and its
# log ends in order: event loop stopped, then every worker exited, then the
# master exited last.
check_clean_stop() {
    local m=$SERVER_PID w stopping stopped n

    [ "$EXIT_STATUS" -eq 0 ]
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
    [ "$(worker_pids "$OUT" | wc -l)" -eq "$WORKERS" ]
    for w in $(worker_pids "$OUT"); do
        not_running "$w"
    done
    [ "$(line_of "master[$m]: started")" = 1 ]
    stopping=$(line_of "master[$m]: $1 received; stopping")
    stopped=$(line_of "master[$m]: event loop stopped")
    [ -n "$stopping" ]
    [ -n "$stopped" ]
    [ "$stopping" -lt "$stopped" ]
    for w in $(worker_pids "$OUT"); do
        n=$(line_of "worker[$w]: exited")
        [ -n "$n" ]
        [ "$n" -gt "$stopped" ]
        [ -n "$(line_of "master[$m]: worker $w exited with status 0")" ]
    done
    [ "$(tail -n 1 "$OUT")" = "master[$m]: exited" ]
    [ "$(grep -c -x -F "master[$m]: exited" "$OUT")" -eq 1 ]
    [ ! -s "$ERR" ]
}

@test "SIGINT: exit 0, no socket file, no queue, no worker, log in order" {
    start_pool
    run "$STAGE/client" -s "$SOCK" one two three
    [ "$status" -eq 0 ]
    stop_server INT
    check_clean_stop SIGINT
    [ "$(count_received one)" -eq 1 ]
    [ "$(count_received three)" -eq 1 ]
}

@test "SIGTERM: exit 0, no socket file, no queue, no worker, log in order" {
    start_pool
    run "$STAGE/client" -s "$SOCK" one two three
    [ "$status" -eq 0 ]
    stop_server TERM
    check_clean_stop SIGTERM
    [ "$(count_received two)" -eq 1 ]
}

@test "the master catches SIGINT and SIGTERM and ignores SIGPIPE" {
    start_pool
    [ "$(sig_bit "$SERVER_PID" SigCgt 2)" -eq 1 ]
    [ "$(sig_bit "$SERVER_PID" SigCgt 15)" -eq 1 ]
    [ "$(sig_bit "$SERVER_PID" SigIgn 13)" -eq 1 ]
    [ "$(sig_bit "$SERVER_PID" SigBlk 2)" -eq 0 ]
    [ "$(sig_bit "$SERVER_PID" SigBlk 15)" -eq 0 ]
    stop_server INT
    check_clean_stop SIGINT
}

@test "every message answered OK before SIGINT is received exactly once" {
    local c k pid
    local -a pids=()

    start_pool
    # Three clients at once, 300 messages each, every one with its own text.
    for c in 1 2 3; do
        start_client "c$c" "$STAGE/client" -s "$SOCK" \
            $(seq -f "c$c-m%.0f" 1 300)
        pids+=("$BG_PID")
    done
    for pid in "${pids[@]}"; do
        wait_exit "$pid"
        [ "$EXIT_STATUS" -eq 0 ]
    done
    for c in 1 2 3; do
        [ "$(grep -c -x -F 'client: received "OK"' "$BATS_TEST_TMPDIR/c$c.out")" -eq 300 ]
    done
    stop_server INT
    check_clean_stop SIGINT

    # Each OK'd message exactly once, and nothing else.
    [ "$(all_received "$OUT" | wc -l)" -eq 900 ]
    [ -z "$(all_received "$OUT" | sort | uniq -d)" ]
    for c in 1 2 3; do
        for k in 1 150 300; do
            [ "$(count_received "c$c-m$k")" -eq 1 ]
        done
    done
    diff <(all_received "$OUT" | sort) \
        <(for c in 1 2 3; do seq -f "c$c-m%.0f" 1 300; done | sort)
    # Round-robin over 900 messages: 300 for each worker.
    for pid in $(worker_pids "$OUT"); do
        [ "$(received_by "$pid" "$OUT" | wc -l)" -eq 300 ]
    done
}

@test "messages piped through nc before SIGTERM are all handled" {
    start_pool
    run nc -U -N "$SOCK" < <(printf 'p1\np2\np3\np4')
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf 'OK\nOK\nOK\nOK')" ]
    stop_server TERM
    check_clean_stop SIGTERM
    [ "$(count_received p1)" -eq 1 ]
    [ "$(count_received p4)" -eq 1 ]
    [ "$(all_received "$OUT" | wc -l)" -eq 4 ]
}

@test "a stop with idle and half-sending clients connected still completes" {
    local idle=$BATS_TEST_TMPDIR/idle.out

    start_pool
    # One client says nothing at all, one says one line and then nothing,
    # one sends half a line. `tail -f /dev/null` never ends, so none of
    # them closes its sending side.
    start_client silent bash -c 'tail -f /dev/null | nc -U "$0"' "$SOCK"
    start_client idle bash -c \
        '{ echo idle1; exec tail -f /dev/null; } | nc -U "$0"' "$SOCK"
    start_client half bash -c \
        '{ printf half; exec tail -f /dev/null; } | nc -U "$0"' "$SOCK"
    wait_for "the idle client's reply" grep -q -x OK "$idle"
    # The listener and the three clients: four sockets in the master.
    wait_for "all connections accepted" eval \
        '[ "$(ls -l /proc/$SERVER_PID/fd | grep -c socket:)" -ge 4 ]'

    stop_server INT
    check_clean_stop SIGINT
    [ "$(count_received idle1)" -eq 1 ]
    # Half a line is not a message: never queued, never received.
    [ "$(count_received half)" -eq 0 ]
    [ "$(all_received "$OUT" | wc -l)" -eq 1 ]
}

# check_client_replies NAME PREFIX - the client NAME sent PREFIX1, PREFIX2,
# ... one a line and its replies are in NAME.out, in order, one per message:
# reply line k answers message k. Writes the messages answered OK to
# NAME.ok and those answered BUSY to NAME.busy, and checks that every reply
# is one of the two.
check_client_replies() {
    local base=$BATS_TEST_TMPDIR/$1 n
    n=$(wc -l <"$base.out")
    paste -d ' ' <(seq -f "$2%.0f" 1 "$n") <(head -n "$n" "$base.out") \
        >"$base.pairs"
    [ "$(wc -l <"$base.pairs")" -eq "$n" ]
    awk '$2 != "OK" && $2 != "BUSY"' "$base.pairs" >"$base.odd"
    [ ! -s "$base.odd" ]
    awk '$2 == "OK" { print $1 }' "$base.pairs" >"$base.ok"
    awk '$2 == "BUSY" { print $1 }' "$base.pairs" >"$base.busy"
}

@test "SIGINT in the middle of load: every OK'd message is received once" {
    local c pid got=$BATS_TEST_TMPDIR/received
    local -a pids=()

    start_pool
    # Three clients pipeline far more lines than can be handled before the
    # signal, without waiting for replies: two through nc, one through
    # socat. Line k of client c is "c<c>-<k>".
    start_client c1 bash -c 'seq -f "c1-%.0f" 1 10000000 | nc -U -N "$0"' "$SOCK"
    pids+=("$BG_PID")
    start_client c2 bash -c 'seq -f "c2-%.0f" 1 10000000 | nc -U -N "$0"' "$SOCK"
    pids+=("$BG_PID")
    start_client c3 bash -c \
        'seq -f "c3-%.0f" 1 10000000 | socat - UNIX-CONNECT:"$0"' "$SOCK"
    pids+=("$BG_PID")
    # The load is on: each client has had 100 of its lines answered OK.
    for c in 1 2 3; do
        wait_for "100 OK for client $c" eval \
            "[ \"\$(grep -c -x OK $BATS_TEST_TMPDIR/c$c.out)\" -ge 100 ]"
    done
    for pid in "${pids[@]}"; do
        running "$pid" # still sending when the signal comes
    done

    stop_server INT
    check_clean_stop SIGINT
    # The master closed every connection, so every client ends.
    for pid in "${pids[@]}"; do
        wait_exit "$pid"
    done

    all_received "$OUT" | sort >"$got"
    # Nothing was handled twice.
    [ -z "$(uniq -d "$got")" ]
    for c in 1 2 3; do
        check_client_replies "c$c" "c$c-"
        # The load was real: many messages were answered OK.
        [ "$(wc -l <"$BATS_TEST_TMPDIR/c$c.ok")" -ge 100 ]
        # Every message answered OK was received (exactly once: no
        # duplicates above).
        [ -z "$(sort "$BATS_TEST_TMPDIR/c$c.ok" | comm -23 - "$got")" ]
        # BUSY means "not kept": none of those was received.
        [ -z "$(sort "$BATS_TEST_TMPDIR/c$c.busy" | comm -12 - "$got")" ]
    done
    # Every message received was sent by a client.
    [ -z "$(grep -v -x 'c[123]-[0-9]*' "$got")" ]
}

# is_stopped PID - true while PID is stopped (state T, after SIGSTOP).
is_stopped() {
    [ "$(awk '{ print $3 }' "/proc/$1/stat")" = T ]
}

@test "a stop lets the workers empty their queues first, even full ones" {
    local w n replies=$BATS_TEST_TMPDIR/replies got=$BATS_TEST_TMPDIR/got
    local fmt='q%07.0f-abcdefghijkl' # 21 bytes a message

    start_pool
    # Stopped workers read nothing: whatever is sent now stays queued.
    for w in $(worker_pids "$OUT"); do
        kill -STOP "$w"
        wait_for "worker $w to stop" is_stopped "$w"
    done
    # More messages than the three queues hold (msgmnb bytes each), so
    # some are answered BUSY. nc -N sends everything, then reads every
    # reply until the master closes the connection.
    n=$((3 * ($(cat /proc/sys/kernel/msgmnb) / 21 + 100)))
    seq -f "$fmt" 1 "$n" | nc -U -N "$SOCK" >"$replies"
    [ "$(wc -l <"$replies")" -eq "$n" ]
    [ "$(grep -c -x OK "$replies")" -gt 0 ]
    [ "$(grep -c -x BUSY "$replies")" -gt 0 ]

    kill -INT "$SERVER_PID"
    wait_for "the event loop to stop" \
        grep -q -x -F "master[$SERVER_PID]: event loop stopped" "$OUT"
    # The master now waits for its stopped workers; none has exited.
    running "$SERVER_PID"
    [ "$(grep -c '^worker.*: exited$' "$OUT" || true)" -eq 0 ]
    for w in $(worker_pids "$OUT"); do
        kill -CONT "$w"
    done
    wait_exit "$SERVER_PID"
    check_clean_stop SIGINT

    # Exactly the messages answered OK were handled, each once.
    all_received "$OUT" | sort >"$got"
    [ -z "$(uniq -d "$got")" ]
    diff "$got" <(paste -d ' ' <(seq -f "$fmt" 1 "$n") "$replies" |
        awk '$2 == "OK" { print $1 }' | sort)
}

@test "workers ignore SIGINT and keep SIGTERM default; the pool still works" {
    local w

    start_pool
    w=$(worker_pids "$OUT" | head -n 1)
    [ "$(sig_bit "$w" SigIgn 2)" -eq 1 ]
    [ "$(sig_bit "$w" SigCgt 2)" -eq 0 ]
    [ "$(sig_bit "$w" SigIgn 15)" -eq 0 ]
    [ "$(sig_bit "$w" SigCgt 15)" -eq 0 ]
    [ "$(sig_bit "$w" SigBlk 2)" -eq 0 ]
    [ "$(sig_bit "$w" SigBlk 15)" -eq 0 ]

    kill -INT "$w"
    running "$w"
    run "$STAGE/client" -s "$SOCK" a1 a2 a3
    [ "$status" -eq 0 ]
    # Each of the three workers got one of the three, this one too.
    wait_for "all three messages" eval \
        '[ "$(all_received "$OUT" | wc -l)" -eq 3 ]'
    [ "$(received_by "$w" "$OUT" | wc -l)" -eq 1 ]
    running "$w"
    stop_server INT
    check_clean_stop SIGINT
}

@test "Ctrl-C to the whole process group: workers finish their queues" {
    local pgid pid

    # setsid gives the server a process group of its own, like a shell
    # does for a foreground job; kill -INT -PGID is what Ctrl-C sends.
    start_server setsid "$STAGE/server" -s "$SOCK" -w "$WORKERS"
    wait_for "$WORKERS workers to start" workers_started "$WORKERS"
    pgid=$(ps -o pgid= -p "$SERVER_PID" | tr -d ' ')
    [ "$pgid" = "$SERVER_PID" ]
    for pid in $(worker_pids "$OUT"); do
        [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pgid" ]
    done
    run "$STAGE/client" -s "$SOCK" $(seq -f 'g%.0f' 1 30)
    [ "$status" -eq 0 ]

    kill -INT -- "-$pgid"
    wait_exit "$SERVER_PID"
    check_clean_stop SIGINT
    diff <(all_received "$OUT" | sort) <(seq -f 'g%.0f' 1 30 | sort)
}

@test "round-robin by content still holds" {
    local k w
    local -a slot=()

    start_pool
    run "$STAGE/client" -s "$SOCK" m1 m2 m3 m4 m5 m6 m7 m8 m9
    [ "$status" -eq 0 ]
    wait_for "nine messages" eval \
        '[ "$(all_received "$OUT" | wc -l)" -eq 9 ]'
    # The worker that got m1 got m4 and m7 in that order and nothing else;
    # likewise m2, m5, m8 and m3, m6, m9; three different workers.
    for k in 1 2 3; do
        w=$(sed -n "s/^worker\\[\\([0-9]*\\)\\]: received \"m$k\"\$/\\1/p" "$OUT")
        [ -n "$w" ]
        [ "$(received_by "$w" "$OUT" | tr '\n' ' ')" = "m$k m$((k + 3)) m$((k + 6)) " ]
        slot+=("$w")
    done
    [ "$(printf '%s\n' "${slot[@]}" | sort -u | wc -l)" -eq 3 ]
    [ -z "$(all_received "$OUT" | sort | uniq -d)" ]
    stop_server INT
    check_clean_stop SIGINT
}

# send_lines - sends standard input over one connection and prints the
# replies; nc -N half-closes once all is sent and reads until the master
# closes. Bounded by $DEADLINE, so a master that never answers fails the
# test instead of hanging it.
send_lines() {
    timeout "$DEADLINE" nc -U -N "$SOCK"
}

@test "a stop ends when a dead worker's queue is full, and says what it drops" {
    local w n replies=$BATS_TEST_TMPDIR/replies

    WORKERS=1
    start_pool
    w=$(worker_pids "$OUT")
    kill -KILL "$w"
    wait_for "worker $w to die" not_running "$w"
    # One-byte messages: a queue holds msgmnb bytes, and also no more than
    # msgmnb messages (msgop(2)), so after msgmnb of them even the empty
    # exit message has no room.
    n=$(cat /proc/sys/kernel/msgmnb)
    yes x | head -n $((n + 16)) | send_lines >"$replies"
    [ "$(head -n "$n" "$replies" | sort -u)" = OK ]
    [ "$(tail -n +$((n + 1)) "$replies" | sort -u)" = BUSY ]
    [ "$(wc -l <"$replies")" -eq $((n + 16)) ]

    # Chapter 5 as first written slept in msgsnd() of the exit message
    # here, for ever, and let the EINTR retry swallow a second SIGINT.
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ -n "$(line_of "master[$SERVER_PID]: worker $w was killed by signal 9 (Killed)")" ]
    [ -n "$(line_of "master[$SERVER_PID]: removed the queue of worker $w with $n unhandled messages")" ]
    [ "$(tail -n 1 "$OUT")" = "master[$SERVER_PID]: exited" ]
    [ -z "$(new_queues)" ]
    [ ! -e "$SOCK" ]
    [ ! -s "$ERR" ]
}

@test "a second SIGINT ends a stop that waits for a stopped worker" {
    local w replies=$BATS_TEST_TMPDIR/replies

    WORKERS=1
    start_pool
    w=$(worker_pids "$OUT")
    kill -STOP "$w"
    wait_for "worker $w to stop" is_stopped "$w"
    printf 'a\nb\nc\n' | send_lines >"$replies"
    [ "$(cat "$replies")" = "$(printf 'OK\nOK\nOK')" ]

    kill -INT "$SERVER_PID"
    wait_for "the event loop to stop" \
        grep -q -x -F "master[$SERVER_PID]: event loop stopped" "$OUT"
    # The first SIGINT waits for the worker, which cannot run.
    running "$SERVER_PID"
    is_stopped "$w"
    # The second one does not: it terminates the worker, which leaves
    # its three messages behind, and the stop goes on to the end.
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ -n "$(line_of "master[$SERVER_PID]: SIGINT again: terminating the workers")" ]
    [ -n "$(line_of "master[$SERVER_PID]: worker $w was killed by signal 15 (Terminated)")" ]
    [ -n "$(line_of "master[$SERVER_PID]: removed the queue of worker $w with 3 unhandled messages")" ]
    [ "$(tail -n 1 "$OUT")" = "master[$SERVER_PID]: exited" ]
    [ "$(all_received "$OUT" | wc -l)" -eq 0 ]
    not_running "$w"
    [ -z "$(new_queues)" ]
    [ ! -e "$SOCK" ]
    [ ! -s "$ERR" ]
}

@test "a second SIGINT ends a stop whose exit message finds a full queue" {
    local w n replies=$BATS_TEST_TMPDIR/replies

    WORKERS=1
    start_pool
    w=$(worker_pids "$OUT")
    kill -STOP "$w"
    wait_for "worker $w to stop" is_stopped "$w"
    # Full by message count, as in the test above; the worker is alive
    # but cannot make room.
    n=$(cat /proc/sys/kernel/msgmnb)
    yes x | head -n $((n + 1)) | send_lines >"$replies"
    [ "$(head -n "$n" "$replies" | sort -u)" = OK ]
    [ "$(tail -n 1 "$replies")" = BUSY ]

    kill -INT "$SERVER_PID"
    wait_for "the event loop to stop" \
        grep -q -x -F "master[$SERVER_PID]: event loop stopped" "$OUT"
    running "$SERVER_PID"
    # Not swallowed by a retry of the exit message: the stop ends.
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ -n "$(line_of "master[$SERVER_PID]: SIGINT again: terminating the workers")" ]
    [ -n "$(line_of "master[$SERVER_PID]: worker $w was killed by signal 15 (Terminated)")" ]
    [ -n "$(line_of "master[$SERVER_PID]: removed the queue of worker $w with $n unhandled messages")" ]
    [ "$(tail -n 1 "$OUT")" = "master[$SERVER_PID]: exited" ]
    [ -z "$(new_queues)" ]
    [ ! -s "$ERR" ]
}
