#!/usr/bin/env bats
# helpers.bats - the shared helpers of helpers.bash, where a mistake would
# not fail a test but mislead whoever reads a failing one: an error message
# from the helpers' own look-ups, or a note that the test's own queue "may
# be another program's" when the run has an IPC namespace of its own.
#
#   unshare --ipc bats tests/helpers.bats

bats_require_minimum_version 1.5.0 # run --separate-stderr

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# in_helpers HOW... SCRIPT - runs SCRIPT in a fresh bash that has loaded
# helpers.bash and begun a test (common_setup), under HOW (an unshare(1)
# command line, or env), with TESTS_IPC_NS unset: as bats run by hand.
in_helpers() {
    local script=${*: -1}
    unshare --ipc true 2>/dev/null || skip "unshare --ipc is not allowed here"
    set -- "${@:1:$#-1}"
    run --separate-stderr env -u TESTS_IPC_NS "$@" bash -c '
        set -e
        BATS_TEST_TMPDIR=$1
        . "$2/tests/helpers.bash"
        common_setup
        eval "$3"' in_helpers "$BATS_TEST_TMPDIR" "$REPO" "$script"
    echo "status $status"
    echo "output: $output"
    echo "stderr: $stderr"
}

@test "tagged: a process that has ended is not the test's, and nothing is printed" {
    local pid

    sleep 0 3>&- &
    pid=$!
    wait "$pid"
    run --separate-stderr tagged "$pid"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
}

# (Until the child has run exec, its environment is the forked shell's,
# which `export` did not change: hence the wait for sleep's name.)
@test "tagged: a process the test started is the test's, another is not" {
    local pid

    sleep 60 3>&- &
    pid=$!
    BG_PIDS+=("$pid")
    wait_for "sleep to start" grep -q -x sleep "/proc/$pid/comm"
    tagged "$pid"
    ! tagged "$$" || false
}

@test "bats under unshare --ipc, by hand: the namespace is private, the new queue counted without a note" {
    in_helpers unshare --ipc '
        echo "private $PRIVATE_IPC"
        id=$(ipcmk -Q | sed -n "s/^Message queue id: //p")
        new_queues
        ipcrm -q "$id"'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "private 1" ]
    [ "${#lines[@]}" -eq 2 ]
    [[ ${lines[1]} =~ ^[0-9]+$ ]]
    [ -z "$stderr" ]
}

# Where nothing shows the namespace to be the run's own (here: a PID
# namespace whose pid 1 shares the new IPC namespace), a queue no test
# process has used is counted, with the note that says it may be another
# program's.
@test "where the namespace is not known to be private: the queue is counted, with the note" {
    in_helpers unshare --ipc --pid --fork --mount-proc '
        echo "private $PRIVATE_IPC"
        id=$(ipcmk -Q | sed -n "s/^Message queue id: //p")
        new_queues
        ipcrm -q "$id"'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "private 0" ]
    [ "${#lines[@]}" -eq 2 ]
    [[ $stderr == "(queue ${lines[1]}: made during the test, by a process not known to be the test's;"* ]]
}
