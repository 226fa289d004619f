#!/usr/bin/env bats
# Chapter 5's exercises: a stop deadline (exercise 4). With -g SECONDS, a
# graceful stop that has lasted that long ends by itself, as after a second
# stop signal: the master terminates the workers (SIGTERM, and SIGCONT for a
# stopped one), logs it once, reaps them, removes its socket file and its
# queues, and exits 0. The deadline counts from the stop, and does nothing
# before it; until it passes, the stop is gentle, and a second signal still
# ends it.
#   make exercise STEP=5 [DIR=path/to/your/copy]
STAGE=${STAGE:-$BATS_TEST_DIRNAME/../../step5-signals}
load ../helpers
setup_file() { build_stage "$STAGE"; }
setup() { common_setup; }
teardown() { common_teardown; }

# up_or_gone - true once the server accepts connections, or has exited (a
# server without -g rejects it at once: no need to wait for the deadline).
up_or_gone() {
    nc -U -z "$SOCK" || not_running "$SERVER_PID"
}

# start_pool G - starts a pool of 3 with -g G and waits until its 3 workers
# have started.
start_pool() {
    start_bg "$STAGE/server" -s "$SOCK" -w 3 -g "$1"
    SERVER_PID=$BG_PID
    wait_for "the server to start" up_or_gone
    running "$SERVER_PID"
    wait_for "3 workers to start" workers_started 3
}

# workers_started N - true once N workers have logged "started".
workers_started() {
    [ "$(worker_pids "$OUT" | wc -l)" -ge "$1" ]
}

# reaped N - true once the master has logged N workers as reaped, however
# they ended.
reaped() {
    local line="^master\[$SERVER_PID\]: worker [0-9]* \(exited\|was killed\)"
    [ "$(grep -c "$line" "$OUT")" -ge "$1" ]
}

# now_cs - the time since boot, in hundredths of a second. The clock only
# goes forward, like the master's CLOCK_MONOTONIC.
now_cs() {
    local up
    read -r up _ </proc/uptime
    echo "$((10#${up/./}))" # 10#: "0.08" is not octal
}

# line_of REGEX - the number of the first line of $OUT that matches REGEX
# whole; fails if none does.
line_of() {
    grep -n -x -m 1 -- "$1" "$OUT" | cut -d: -f1 | grep .
}

# received_at_least N - true once workers have logged N messages in all.
received_at_least() {
    [ "$(all_received "$OUT" | wc -l)" -ge "$1" ]
}

# stuck_stop SIGNAL - freezes the newest worker with SIGSTOP, sends a
# message to each worker, waits until the two others have handled theirs,
# and stops the master with SIGNAL. The master then waits for the frozen
# worker. $STUCK is its pid, $HANDLED the number of messages handled so
# far, $STOPPED_AT the time just before SIGNAL was sent (now_cs).
stuck_stop() {
    local before

    STUCK=$(worker_pids "$OUT" | tail -n 1)
    kill -STOP "$STUCK"
    before=$(all_received "$OUT" | wc -l)
    run "$STAGE/client" -s "$SOCK" a b c
    [ "$status" -eq 0 ]
    HANDLED=$((before + 2))
    wait_for "the two other workers to handle theirs" received_at_least "$HANDLED"

    STOPPED_AT=$(now_cs)
    kill -"$1" "$SERVER_PID"
}

# check_ended_by_deadline G - the stop of stuck_stop has ended by itself
# once it had lasted G seconds: the master logged the deadline once, after
# the stop began and before any worker was killed; the frozen worker died
# of SIGTERM, its message unhandled; the master reaped every worker,
# removed its socket file and its queues, and exited 0.
check_ended_by_deadline() {
    local me="master\[$SERVER_PID\]"
    local deadline="$me: stop deadline of $1 s passed: terminating the workers"
    local killed="$me: worker $STUCK was killed by signal 15 (.*)"
    local lasted w

    wait_exit "$SERVER_PID"
    # Not sooner: the master cannot have begun its stop before the signal
    # was sent, so a correct one passes this however slow the machine. It
    # rejects a deadline that fires early, such as one counted from the
    # start.
    lasted=$(($(now_cs) - STOPPED_AT))
    echo "the stop lasted ${lasted}0 ms at most"
    [ "$lasted" -ge "$(($1 * 100))" ]
    [ "$EXIT_STATUS" -eq 0 ]
    for w in $(worker_pids "$OUT"); do
        not_running "$w"
    done
    [ "$(grep -c -x "$deadline" "$OUT")" -eq 1 ]
    [ "$(line_of "$deadline")" -gt "$(line_of "$me: event loop stopped")" ]
    grep -q -x "$killed" "$OUT"
    [ "$(line_of "$me: worker [0-9]* was killed by .*")" -gt "$(line_of "$deadline")" ]
    [ "$(grep -c "^$me: worker [0-9]* \(exited\|was killed\)" "$OUT")" -eq 3 ]
    ! grep -q "^$me: .* again: " "$OUT" || false
    [ "$(all_received "$OUT" | wc -l)" -eq "$HANDLED" ]
    grep -q -x "$me: removed the queue of worker $STUCK with 1 unhandled message" \
        "$OUT"
    [ "$(tail -n 1 "$OUT")" = "master[$SERVER_PID]: exited" ]
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
}

@test "exercise 4: -g 2 ends a stop stuck on a frozen worker by itself; the worker is reaped, the queues go" {
    start_pool 2
    stuck_stop INT
    check_ended_by_deadline 2
}

@test "exercise 4: the deadline counts from the stop: a pool older than -g still serves, and its stop still lasts -g seconds" {
    local m w
    start_pool 2
    # The pause ages the pool beyond its deadline; it waits for nothing.
    sleep 3
    run "$STAGE/client" -s "$SOCK" one two three
    [ "$status" -eq 0 ]
    for m in one two three; do
        wait_for "$m to be handled" was_received "$m"
    done
    for w in $(worker_pids "$OUT"); do
        running "$w"
    done
    ! grep -q 'terminating the workers' "$OUT" || false

    stuck_stop TERM
    check_ended_by_deadline 2
}

@test "exercise 4: before its deadline the stop is gentle, and a second Ctrl-C still ends it" {
    local w
    start_pool 600
    stuck_stop INT
    wait_for "the two other workers to be reaped" reaped 2
    for w in $(worker_pids "$OUT"); do
        [ "$w" = "$STUCK" ] ||
            grep -q -x "master\[$SERVER_PID\]: worker $w exited with status 0" "$OUT"
    done
    running "$SERVER_PID"
    kill -INT "$SERVER_PID"
    wait_exit "$SERVER_PID"

    [ "$EXIT_STATUS" -eq 0 ]
    grep -q -x "master\[$SERVER_PID\]: SIGINT again: terminating the workers" "$OUT"
    ! grep -q 'deadline' "$OUT" || false
    grep -q -x \
        "master\[$SERVER_PID\]: worker $STUCK was killed by signal 15 (.*)" \
        "$OUT"
    [ "$(all_received "$OUT" | wc -l)" -eq 2 ]
    [ "$(tail -n 1 "$OUT")" = "master[$SERVER_PID]: exited" ]
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
}
