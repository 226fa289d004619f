#!/usr/bin/env bats
# Chapter 5's exercises: a second stop signal during a stop ends the workers
# at once (exercise 4): the master still reaps every worker, removes its
# socket file and its queues, and exits, even when a worker is stuck. The
# first stop stays the gentle one.
#   make exercise STEP=5 [DIR=path/to/your/copy]
STAGE=${STAGE:-$BATS_TEST_DIRNAME/../../step5-signals}
load ../helpers
setup_file() { build_stage "$STAGE"; }
setup() { common_setup; }
teardown() { common_teardown; }

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

# stop_twice FIRST SECOND - starts a pool of 3, freezes one worker with
# SIGSTOP, sends a message to each worker, and stops the master with signal
# FIRST. The first stop is the gentle one: the two other workers take their
# messages and the exit message, and exit 0; the master then waits for the
# frozen one, for as long as it takes. Then signal SECOND: the master must
# end the frozen worker (which dies of a signal, its message unhandled),
# reap it, remove its socket file and its queues, and exit.
stop_twice() {
    local stuck w

    start_server "$STAGE/server" -s "$SOCK" -w 3
    wait_for "3 workers to start" workers_started 3
    stuck=$(worker_pids "$OUT" | tail -n 1)
    kill -STOP "$stuck"
    run "$STAGE/client" -s "$SOCK" a b c
    [ "$status" -eq 0 ]

    kill -"$1" "$SERVER_PID"
    wait_for "the two other workers to be reaped" reaped 2
    for w in $(worker_pids "$OUT"); do
        [ "$w" = "$stuck" ] ||
            grep -q -x "master\[$SERVER_PID\]: worker $w exited with status 0" "$OUT"
    done
    [ "$(all_received "$OUT" | wc -l)" -eq 2 ]
    running "$SERVER_PID"
    kill -"$2" "$SERVER_PID"
    wait_exit "$SERVER_PID"

    for w in $(worker_pids "$OUT"); do
        not_running "$w"
    done
    grep -q -x \
        "master\[$SERVER_PID\]: worker $stuck was killed by signal [0-9]* (.*)" \
        "$OUT"
    [ "$(all_received "$OUT" | wc -l)" -eq 2 ]
    [ "$(tail -n 1 "$OUT")" = "master[$SERVER_PID]: exited" ]
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
}

@test "exercise 4: Ctrl-C twice: the second SIGINT ends a stuck worker, the queues go" {
    stop_twice INT INT
}

@test "exercise 4: SIGTERM, then SIGINT: the stuck worker is ended, the queues go" {
    stop_twice TERM INT
}
