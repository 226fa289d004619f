#!/usr/bin/env bats
# step4.bats - chapter 4: one select() loop serves every client at once.
# Messages go round-robin (checked by content); messages are framed by
# newline whatever pieces they arrive in (one byte at a time, several in one
# write, the last one unterminated); too-long and empty messages get ERR
# and the connection goes on; many pipelined messages get one reply each, in
# order, even when the replies overflow a connection's reply buffer; a
# silent client or one that never reads its replies blocks nobody;
# full queues give BUSY; more connections than select() can watch, or than
# the process may open, do not crash the master, and a pause for want of
# descriptors ends by itself, also with no connection open.
#
#   unshare --ipc bats tests/step4.bats
#   STAGE=/some/copy bats tests/step4.bats    (test a modified copy)

STAGE=${STAGE:-$BATS_TEST_DIRNAME/../step4-select-loop}

load helpers

setup_file() { build_stage "$STAGE"; }

setup() {
    common_setup
    SERVER_PID=
    EXTRA_PIDS=()  # clients started here, killed in teardown
    MANY_PIDS=()   # the 1,100 idle connections, killed in one go
    STOPPED=()     # workers stopped with SIGSTOP
}

teardown() {
    local pid workers

    if [ "${#MANY_PIDS[@]}" -gt 0 ]; then
        kill -KILL "${MANY_PIDS[@]}" 2>/dev/null || true
        wait "${MANY_PIDS[@]}" 2>/dev/null || true
    fi
    for pid in "${EXTRA_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${#STOPPED[@]}" -gt 0 ]; then
        kill -CONT "${STOPPED[@]}" 2>/dev/null || true
    fi
    # This chapter's master has no signal handler: SIGTERM kills it at
    # once, and its workers would be left as orphans, blocked on their
    # queues (chapter 5 fixes that). So take their pids first and kill them
    # by pid. common_teardown removes the queues left behind.
    if [ -n "$SERVER_PID" ] && running "$SERVER_PID"; then
        workers=$(children_of "$SERVER_PID")
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait_exit "$SERVER_PID" || true
        for pid in $workers; do
            kill -KILL "$pid" 2>/dev/null || true
        done
        for pid in $workers; do
            wait_for "orphaned worker $pid to end" not_running "$pid" || true
        done
    fi
    common_teardown
}

# serve ARGS... - starts the server on $SOCK with ARGS and waits until it
# accepts connections.
serve() {
    start_server "$STAGE/server" -s "$SOCK" "$@"
}

# send_raw - sends standard input over one connection (nc -N half-closes
# once it has all been sent) and prints the server's replies. Bounded by
# $DEADLINE, so a server that never answers fails the test instead of
# hanging it.
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

# read_nothing_more PID - true once the count of bytes PID has read has
# stayed the same over five calls in a row (wait_for calls it every 50 ms).
SAME_READS=0 LAST_READ=-1
read_nothing_more() {
    local now

    now=$(bytes_read "$1")
    if [ "$now" -eq "$LAST_READ" ]; then
        SAME_READS=$((SAME_READS + 1))
    else
        SAME_READS=0
        LAST_READ=$now
    fi
    [ "$SAME_READS" -ge 5 ]
}

# all_taken N - true once the master holds or has refused N connections,
# or has run out of descriptors (the rest then wait in the listen backlog).
all_taken() {
    local held refused

    if grep -q 'out of file descriptors' "$OUT"; then
        return 0
    fi
    held=$(($(sockets_of "$SERVER_PID") - 1)) # not the listener
    refused=$(grep -c 'beyond FD_SETSIZE' "$OUT" || true)
    [ $((held + refused)) -eq "$1" ]
}

# is_stopped PID - true when PID is stopped by a signal (state T).
is_stopped() {
    [ "$(awk '{ print $3 }' "/proc/$1/stat")" = T ]
}

# workers_are N - true once N workers have logged "started".
workers_are() {
    [ "$(worker_pids "$OUT" | wc -l)" -eq "$1" ]
}

# oked_messages MSGS REPLIES - the lines of file MSGS whose reply (the line
# at the same place in file REPLIES) was OK, sorted.
oked_messages() {
    paste -d '\t' "$2" "$1" | awk -F '\t' '$1 == "OK" { print $2 }' | sort
}

@test "-w 3: messages go round-robin, by content, over one connection" {
    serve -w 3
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" $(seq -f 'm%g' 15)
    [ "$status" -eq 0 ]
    [ "$(grep -c -x 'client: received "OK"' <<<"$output")" -eq 15 ]
    [ "$(grep -c -x 'client: sent "m[0-9]*"' <<<"$output")" -eq 15 ]
    wait_for "15 messages received" received_is 15
    check_round_robin 3 <(seq -f 'm%g' 15)
}

@test "-w 5: messages go round-robin, by content" {
    serve -w 5
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" $(seq -f 'm%g' 20)
    [ "$status" -eq 0 ]
    [ "$(grep -c -x 'client: received "OK"' <<<"$output")" -eq 20 ]
    wait_for "20 messages received" received_is 20
    check_round_robin 5 <(seq -f 'm%g' 20)
}

@test "-w 3: one message from each of 9 clients: round-robin across connections" {
    local i

    serve -w 3
    for i in $(seq 9); do
        run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" "m$i"
        [ "$status" -eq 0 ]
        [ "${lines[1]}" = 'client: received "OK"' ]
    done
    wait_for "9 messages received" received_is 9
    check_round_robin 3 <(seq -f 'm%g' 9)
}

@test "a client holding a silent connection does not block another client" {
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
    wait_for "the master to accept the silent connection" \
        sockets_are "$SERVER_PID" 2

    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" hello
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    wait_for "hello received" was_received hello
    # The silent client is still there, still connected.
    running "$idle"
    sockets_are "$SERVER_PID" 2
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

@test "three messages in one write, the last unterminated, get three OK" {
    serve -w 3
    run send_raw < <(printf 'a\nb\nc')
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 3 ]
    [ "${lines[0]}" = OK ]
    [ "${lines[1]}" = OK ]
    [ "${lines[2]}" = OK ]
    wait_for "three messages received" received_is 3
    [ "$(all_received "$OUT" | sort | tr '\n' ' ')" = "a b c " ]
    # One to each worker.
    [ "$(grep -o '^worker\[[0-9]*\]: received' "$OUT" | sort -u | wc -l)" -eq 3 ]
}

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

@test "a message of several kilobytes gets one ERR, and the connection goes on" {
    serve -w 2
    run send_raw < <(printf '%05000d\n' 0; echo after)
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [ "${lines[0]}" = "ERR message too long" ]
    [ "${lines[1]}" = OK ]
    wait_for "the next message received" was_received after
    [ "$(received_count)" -eq 1 ]
}

@test "a message of exactly 1024 bytes is OK and arrives whole" {
    local msg

    msg=$(printf '%01024d' 7)
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

@test "replies come in the order of the messages" {
    serve -w 2
    run send_raw < <(printf 'one\n\n%01025d\ntwo\n%02000d' 0 0)
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 5 ]
    [ "${lines[0]}" = OK ]
    [ "${lines[1]}" = "ERR empty message" ]
    [ "${lines[2]}" = "ERR message too long" ]
    [ "${lines[3]}" = OK ]
    [ "${lines[4]}" = "ERR message too long" ]
    wait_for "two messages received" received_is 2
    [ "$(all_received "$OUT" | sort | tr '\n' ' ')" = "one two " ]
}

@test "1000 pipelined messages get 1000 replies; exactly the OK ones arrive" {
    local msgs=$BATS_TEST_TMPDIR/msgs replies=$BATS_TEST_TMPDIR/replies ok

    serve -w 3
    seq -f 'p%g' 1000 >"$msgs"
    send_raw <"$msgs" >"$replies"
    [ "$(wc -l <"$replies")" -eq 1000 ]
    [ -z "$(grep -v -x -e OK -e BUSY "$replies")" ]
    ok=$(grep -c -x OK "$replies")
    [ "$ok" -gt 0 ]
    wait_for "$ok messages received" received_is "$ok"
    [ "$(all_received "$OUT" | sort)" = "$(oked_messages "$msgs" "$replies")" ]
}

@test "more replies at once than the reply buffer holds are all sent" {
    local msgs=$BATS_TEST_TMPDIR/msgs replies=$BATS_TEST_TMPDIR/replies

    serve -w 2
    # 2000 empty lines, then one real message. From a file, nc sends them
    # in one write(2), so one read(2) of the master takes 1025 empty lines
    # at once: 1025 replies of 18 bytes, far more than the 4096 bytes of
    # one connection's reply buffer.
    { printf '\n%.0s' $(seq 2000); echo last; } >"$msgs"
    send_raw <"$msgs" >"$replies"
    [ "$(wc -l <"$replies")" -eq 2001 ]
    [ "$(grep -c -x 'ERR empty message' "$replies")" -eq 2000 ]
    [ "$(tail -n 1 "$replies")" = OK ]
    wait_for "the last message received" was_received last
}

@test "a client that never reads its replies is not read from, and blocks nobody" {
    local flood=$BATS_TEST_TMPDIR/flood sender

    serve -w 3
    # 4 MB of one-byte messages from a client that never reads: socat -u
    # only copies the file to the socket.
    yes x | head -c 4000000 >"$flood"
    socat -u "OPEN:$flood" "UNIX-CONNECT:$SOCK" >/dev/null 2>&1 3>&- &
    sender=$!
    EXTRA_PIDS+=("$sender")
    wait_for "the master to read the flood" has_read "$SERVER_PID" 20000

    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" other
    [ "$status" -le 1 ]
    [[ "${lines[1]}" =~ ^client:\ received\ \"(OK|BUSY)\"$ ]]
    # Its replies fill the socket and then the connection's small buffer:
    # the master stops reading, so the sender is stuck with most of its
    # data unsent. (A master that kept reading would stop only at 4 MB.)
    wait_for "the master to stop reading" read_nothing_more "$SERVER_PID"
    [ "$(bytes_read "$SERVER_PID")" -lt 1000000 ]
    running "$sender"
    # The flood is held back, not the master: with the sender's socket
    # full, a master that wrote to it and waited would answer nobody now.
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" after
    [ "$status" -le 1 ]
    [[ "${lines[1]}" =~ ^client:\ received\ \"(OK|BUSY)\"$ ]]
}

@test "1,100 connections at once do not crash the server" {
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
    wait_for "the master to take every connection it can" all_taken 1100
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
    [ ! -s "$ERR" ]
}

@test "out of descriptors: the master pauses accepting, then goes on" {
    not_carried_to final "the final refuses with a spare descriptor instead"
    local i emfile start=$SECONDS

    # 32 descriptors: 0-2, the listener, and room for 28 connections.
    start_server bash -c 'ulimit -n 32 && exec "$@"' _ \
        "$STAGE/server" -s "$SOCK" -w 2
    for i in $(seq 40); do
        nc -U "$SOCK" </dev/null >/dev/null 2>&1 3>&- &
        MANY_PIDS+=($!)
    done
    wait_for "accept() to fail with EMFILE" \
        grep -q -x 'master\[[0-9]*\]: out of file descriptors; not accepting for a second or until a connection closes' "$OUT"
    running "$SERVER_PID"

    kill -KILL "${MANY_PIDS[@]}"
    wait "${MANY_PIDS[@]}" 2>/dev/null || true
    MANY_PIDS=()
    wait_for "every connection to close" sockets_are "$SERVER_PID" 1
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" after
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    # The listener was paused, not polled in a loop: at most one EMFILE per
    # connection that closed, plus the first, plus one per second of pause.
    emfile=$(grep -c 'out of file descriptors' "$OUT")
    [ "$emfile" -le $((41 + SECONDS - start + 1)) ]
}

# lowest_free_fd PID - the lowest descriptor number PID has not open: the
# one its next accept() would return.
lowest_free_fd() {
    local fd=0
    while [ -L "/proc/$1/fd/$fd" ]; do
        fd=$((fd + 1))
    done
    echo "$fd"
}

# soft_nofile PID - PID's soft limit on open descriptors.
soft_nofile() {
    prlimit --pid "$1" --nofile --noheadings --raw --output SOFT
}

@test "out of descriptors with no connection open: the pause still ends" {
    local soft

    serve -w 2
    # No connection open, only the listener: the readiness check's
    # connection has been closed.
    wait_for "only the listener open" sockets_are "$SERVER_PID" 1
    # Lower the master's limit to the lowest free descriptor: its next
    # accept() fails with EMFILE, and no connection can close to end a
    # pause. (ENFILE, the whole system out of descriptors, looks the same.)
    soft=$(soft_nofile "$SERVER_PID")
    prlimit --pid "$SERVER_PID" --nofile="$(lowest_free_fd "$SERVER_PID"):"
    OUT=$BATS_TEST_TMPDIR/first.out ERR=$BATS_TEST_TMPDIR/first.err \
        start_bg timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" first
    wait_for "accept() to fail with EMFILE" \
        grep -q '^master\[[0-9]*\]: out of file descriptors' "$OUT"
    running "$SERVER_PID"

    # Descriptors to spare again: the master must notice by itself.
    prlimit --pid "$SERVER_PID" --nofile="$soft:"
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" after
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    wait_for "the message received" was_received after
    wait_exit "$BG_PID"
    [ ! -s "$ERR" ]
}

@test "full queues: BUSY, never OK for a message that was not queued" {
    not_carried_to final "counts chapter 4's queue entries; the final spills first"
    local msgs=$BATS_TEST_TMPDIR/msgs replies=$BATS_TEST_TMPDIR/replies
    local per total ok pad pid
    local -a workers

    serve -w 2
    wait_for "two workers" workers_are 2
    mapfile -t workers < <(worker_pids "$OUT")
    STOPPED=("${workers[@]}")
    kill -STOP "${workers[@]}"
    for pid in "${workers[@]}"; do
        wait_for "worker $pid to stop" is_stopped "$pid"
    done

    # Messages of 1024 bytes: a queue holds msgmnb bytes, so PER of them.
    per=$(($(cat /proc/sys/kernel/msgmnb) / 1024))
    total=$((2 * (per + 2)))
    pad=$(printf '%01017d' 0)
    for i in $(seq "$total"); do
        printf 'b%05d-%s\n' "$i" "$pad"
    done >"$msgs"
    send_raw <"$msgs" >"$replies"
    [ "$(wc -l <"$replies")" -eq "$total" ]
    [ -z "$(grep -v -x -e OK -e BUSY "$replies")" ]
    ok=$(grep -c -x OK "$replies")
    [ "$ok" -eq $((2 * per)) ]
    [ "$(grep -c -x BUSY "$replies")" -eq 4 ]
    [ "$(received_count)" -eq 0 ]
    # What was answered OK is on the queues, byte for byte.
    [ "$(awk -v ids="$(new_queues | tr '\n' ' ')" 'BEGIN { split(ids, a, " "); for (i in a) q[a[i]] = 1 }
        NR > 1 && ($2 in q) { sum += $4 } END { print sum + 0 }' /proc/sysvipc/msg)" -eq $((ok * 1024)) ]
    # A client gets BUSY too, and exits 1.
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" hi
    [ "$status" -eq 1 ]
    [ "${lines[1]}" = 'client: received "BUSY"' ]

    kill -CONT "${workers[@]}"
    STOPPED=()
    wait_for "$ok messages received" received_is "$ok"
    [ "$(all_received "$OUT" | sort)" = "$(oked_messages "$msgs" "$replies")" ]
    # Room again.
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" hi
    [ "$status" -eq 0 ]
    wait_for "hi received" was_received hi
}
