#!/usr/bin/env bats
# Chapter 3's exercises: exercise 4, framing by hand. A correct solution
# keeps reading a connection until a newline, a full buffer (1025 bytes) or
# the end of the stream, so a message that arrives in pieces reaches a
# worker whole, with one reply. The tests send with nc, which does not
# half-close (no -N), and with the chapter's ./client, which does not
# either: a master that waits for the end of the stream hangs with both.
#   make exercise STEP=3 [DIR=path/to/your/copy]
STAGE=${STAGE:-$BATS_TEST_DIRNAME/../../step3-unix-socket}
load ../helpers
setup_file() { build_stage "$STAGE"; }
setup() { common_setup; }
teardown() { common_teardown; }

# stat_field PID N - field N of /proc/PID/stat (counted after the last ")":
# the command name before it may hold spaces).
stat_field() {
    sed -n 's/.*) //p' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f "$(($2 - 2))"
}

# asleep_or_gone PID - true while PID sleeps (state S), or once it has
# ended.
asleep_or_gone() {
    [ "$(stat_field "$1" 3)" = S ] || not_running "$1"
}

# wrote_or_gone PID N - true once PID has written N bytes or more with
# write(2) (the wchar line of /proc/PID/io), or has ended.
wrote_or_gone() {
    [ "$(sed -n 's/^wchar: //p' "/proc/$1/io" 2>/dev/null)" -ge "$2" ] ||
        not_running "$1"
}

# open_sender - connects nc to the server. nc sends what the test writes
# to descriptor $WRITER when it is written (send_piece), and puts the
# replies in $REPLIES; $SENDER is its pid.
open_sender() {
    local hold=$BATS_TEST_TMPDIR/hold.$RANDOM
    REPLIES=$BATS_TEST_TMPDIR/replies.$RANDOM
    mkfifo "$hold"
    nc -U "$SOCK" <"$hold" >"$REPLIES" 2>/dev/null 3>&- &
    SENDER=$!
    BG_PIDS+=("$SENDER")
    exec {WRITER}>"$hold"
    SENT=0
}

# send_piece TEXT - sends TEXT through nc, then waits until the master has
# taken it in, so that each piece reaches the master in a read of its own,
# whatever the timing. nc has written it when its wchar has grown (nc
# writes to the socket with write(2), and writes nothing else before the
# reply). That write woke the master before it returned, so a master seen
# asleep after it (in read(), waiting for more, or in accept()) has run
# since and taken in what was there. If the master has hung up, nc has
# gone and the write fails: in a subshell, so that SIGPIPE ends only that.
send_piece() {
    (printf '%s' "$1" >&"$WRITER") 2>/dev/null || true
    SENT=$((SENT + ${#1}))
    wait_for "nc to send $SENT bytes" wrote_or_gone "$SENDER" "$SENT"
    wait_for "the master to take them in" asleep_or_gone "$SERVER_PID"
}

# close_sender - no more pieces; waits for nc to end, which it does when
# the master closes the connection. Its replies are then in $REPLIES.
close_sender() {
    exec {WRITER}>&-
    wait_exit "$SENDER"
}

# repeat N CHAR - CHAR N times.
repeat() {
    printf "%$1s" '' | tr ' ' "$2"
}

# was_received MSG - true once some worker has logged MSG.
was_received() {
    all_received "$OUT" | grep -q -x -F -- "$1"
}

@test "exercise 4: a message in two writes reaches a worker whole, with one OK; ./client still gets its OK" {
    start_server "$STAGE/server" -s "$SOCK" -w 1
    open_sender
    send_piece hel
    send_piece $'lo\n'
    close_sender
    [ "$(cat "$REPLIES")" = OK ]
    # ./client writes its line in one piece and keeps its side open until
    # the reply: a master that reads until end of file never replies.
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" hi
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    # One worker logs in queue order: hi comes after everything before it.
    wait_for "hi to be logged" was_received hi
    [ "$(all_received "$OUT" | tr '\n' ' ')" = "hello hi " ]
}

@test "exercise 4: 1024 bytes in pieces make one message, 1025 get ERR, an unterminated line at end of file its reply" {
    local full
    full=$(repeat 1024 x)
    start_server "$STAGE/server" -s "$SOCK" -w 1
    # 600 + 424 bytes and the newline: exactly a full buffer, one message.
    open_sender
    send_piece "${full:0:600}"
    send_piece "${full:600}"$'\n'
    close_sender
    [ "$(cat "$REPLIES")" = OK ]
    wait_for "the 1024-byte message to be logged" was_received "$full"

    # 600 + 425 bytes: the buffer is full and holds no newline, so the
    # message is too long, and the reply comes without waiting for more.
    open_sender
    send_piece "$(repeat 600 y)"
    send_piece "$(repeat 425 y)"
    close_sender
    [ "$(cat "$REPLIES")" = 'ERR message too long' ]

    # 600 + 2000 bytes: the second read() may fill only what is left of the
    # buffer (a copy built with SAN=1 stops at once if it reads past it).
    # The master hangs up with bytes unread, so nc may miss the reply; the
    # master must not mind.
    open_sender
    send_piece "$(repeat 600 z)"
    send_piece "$(repeat 2000 z)"$'\n'
    close_sender
    running "$SERVER_PID"

    # hel, then end of file (nc -N shuts down its sending side): read()
    # returns 0, and the master must stop waiting for a newline.
    run timeout "$DEADLINE" nc -U -N "$SOCK" < <(printf hel)
    [ "$status" -eq 0 ]
    [ "$output" = OK ]
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" after
    [ "$status" -eq 0 ]
    wait_for "after to be logged" was_received after
    [ "$(all_received "$OUT" | tr '\n' ' ')" = "$full hel after " ]
}
