#!/usr/bin/env bats
# Chapter 1's exercises: each worker names its parent in its "exited" line
# (1), the master reports an exit status of 3 and a death by SIGABRT (2),
# and reaps its workers in fork order, the longest sleeper first (3).
#   make exercise STEP=1 [DIR=path/to/your/copy]
# They fail on the chapter as shipped: they describe the code you write.
STAGE=${STAGE:-$BATS_TEST_DIRNAME/../../step1-fork}
load ../helpers
setup_file() { build_stage "$STAGE"; }
setup() { common_setup; }
teardown() { common_teardown; }

# run_server ARGS... - runs the server to its end, output in $OUT; the
# master's pid is then in $MASTER and its exit status in $EXIT_STATUS.
run_server() {
    start_bg "$STAGE/server" "$@"
    MASTER=$BG_PID
    wait_exit "$MASTER"
}

# count PATTERN - how many lines of $OUT match the extended regex PATTERN.
count() {
    grep -c -E -- "$1" "$OUT" || true
}

# has N PATTERN - true once N lines of $OUT match PATTERN (for wait_for).
has() {
    [ "$(count "$2")" -eq "$1" ]
}

# line_of TEXT - the number of the line of $OUT that is exactly TEXT.
line_of() {
    grep -n -x -F -- "$1" "$OUT" | cut -d: -f1
}

@test "exercise 1: each worker's exited line names its parent, the master" {
    local pid
    run_server -w 3
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(worker_pids "$OUT" | wc -l)" -eq 3 ]
    for pid in $(worker_pids "$OUT"); do
        [ "$(count "^worker\[$pid\]: exited \(parent $MASTER\)$")" -eq 1 ]
    done
}

@test "exercise 1: a worker orphaned by kill -KILL names another parent" {
    local last
    start_bg "$STAGE/server" -w 20
    MASTER=$BG_PID
    # Slot 19 sleeps 2 s: the master is killed long before it ends.
    wait_for "20 workers to start" has 21 'started$'
    kill -KILL "$MASTER"
    wait_exit "$MASTER"
    # The orphans still log: the last to end logs long after the kill.
    wait_for "20 exited lines" has 20 '^worker\[[0-9]+\]: exited'
    last=$(grep -E '^worker\[[0-9]+\]: exited' "$OUT" | tail -n 1)
    [[ $last =~ ^worker\[[0-9]+\]:\ exited\ \(parent\ [0-9]+\)$ ]]
    ! [[ $last == *"(parent $MASTER)" ]] || false
}

@test "exercise 2: slot 1 exits with status 3, slot 2 dies of SIGABRT" {
    ulimit -c 0 # abort() would dump core: not here
    run_server -w 3
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(count "^master\[$MASTER\]: worker [0-9]+ exited with status 0$")" -eq 1 ]
    [ "$(count "^master\[$MASTER\]: worker [0-9]+ exited with status 3$")" -eq 1 ]
    [ "$(count "^master\[$MASTER\]: worker [0-9]+ was killed by signal 6 \(Aborted\)$")" -eq 1 ]
}

@test "exercise 3: workers reaped in fork order, the longest sleeper (slot 0) first" {
    local pid first_reaped last_exit reaped_line
    local -a exited reaped
    run_server -w 3
    [ "$EXIT_STATUS" -eq 0 ]
    mapfile -t exited < <(sed -n 's/^worker\[\([0-9]*\)\]: exited.*$/\1/p' "$OUT")
    mapfile -t reaped < <(sed -n "s/^master\[$MASTER\]: worker \([0-9]*\) exited with status 0\$/\1/p" "$OUT")
    [ "${#exited[@]}" -eq 3 ]
    [ "${#reaped[@]}" -eq 3 ]
    # Slot 0 sleeps longest, so it is the last to log "exited", and the
    # master, waiting for it first, reaps no one before it has ended.
    first_reaped=${reaped[0]}
    [ "$first_reaped" = "${exited[2]}" ]
    last_exit=$(grep -n -E '^worker\[[0-9]+\]: exited' "$OUT" | tail -n 1 | cut -d: -f1)
    for pid in "${reaped[@]}"; do
        reaped_line=$(line_of "master[$MASTER]: worker $pid exited with status 0")
        [ "$reaped_line" -gt "$last_exit" ]
    done
}
