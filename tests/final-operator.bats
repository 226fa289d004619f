#!/usr/bin/env bats
# final-operator.bats - the final pool as an operator meets it: --help names
# the signals, and SPEC.md, --help and the manual page (final/server.8)
# list the same options and signals; systemd's readiness datagrams on
# NOTIFY_SOCKET (SPEC 8), received here by a socket of the test's own
# (socat), a path or an abstract @name, sent by the master alone (the
# daemon with -d), as strace shows; and a log that reads right:
# plurals, a status summary that counts live workers, and a status during
# a stop that says what is left to drain.
#
#   unshare --ipc bats tests/final-operator.bats
#   STAGE=/some/copy bats tests/final-operator.bats    (test a modified copy)

STAGE=${STAGE:-$BATS_TEST_DIRNAME/../final}
STAGE=$(cd "$STAGE" && pwd -P)

load helpers

bats_require_minimum_version 1.5.0

setup_file() { build_stage "$STAGE"; }

setup() {
    common_setup
    NSOCK=$BATS_TEST_TMPDIR/notify.sock
    NOUT=$BATS_TEST_TMPDIR/notify.out
    TRACE=$BATS_TEST_TMPDIR/strace.out
    MASTER=
    LIVE_MASTER= # the master until it is known to have ended
}

teardown() {
    # Under strace the master is strace's child, and a daemon (-d) is
    # nobody's here: kill it and its workers by its pid first, so that it
    # forks no new worker while common_teardown kills the rest.
    if [ -n "$LIVE_MASTER" ]; then
        kill_tree "$LIVE_MASTER"
    fi
    common_teardown
}

# --- the lists of options and signals --------------------------------------

SPEC=$BATS_TEST_DIRNAME/../final/SPEC.md
MAN=$BATS_TEST_DIRNAME/../final/server.8

# The option lines of a usage text: "  -w, --workers N ..." and
# "      --work-ms MS ...".
usage_lines() {
    grep -E '^ +(-[a-z], )?--[a-z]' || true
}

# The long option each usage line names first, one a line, sorted.
long_options() {
    usage_lines | sed -E 's/^ +(-[a-z], )?(--[a-z-]+).*/\2/' | sort
}

spec_section() {
    sed -n "/^## $1\\./,/^## /p" "$SPEC"
}

help_usage() {
    "$STAGE/server" --help | sed '/^$/,$d'
}

help_signals() {
    "$STAGE/server" --help | sed '1,/^signals to the master:$/d'
}

# man_section NAME - the mdoc source of one section of the manual page.
man_section() {
    sed -n "/^\\.Sh $1\$/,/^\\.Sh /p" "$MAN" | sed '$d'
}

man_options() {
    man_section OPTIONS | grep '^\.It Fl' |
        sed -E 's/.*Fl \\-([a-z\\-]+).*/--\1/; s/\\-/-/g' | sort
}

signal_names() {
    grep -o -E 'SIG[A-Z0-9]+' | sort -u
}

# bats test_tags=daemon
@test "--help: the usage of SPEC 2 exactly, then what each signal does" {
    run --separate-stderr "$STAGE/server" --help
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(help_usage | usage_lines)" = "$(spec_section 2 | usage_lines)" ]
    [ "$(help_signals | signal_names)" = "$(printf '%s\n' SIGHUP SIGINT SIGTERM SIGTTIN SIGTTOU SIGUSR1 | sort)" ]
    [[ "$output" == *"SIGHUP "*"reload"* ]]
    [[ "$output" == *"(the same again)"*"stop at once"* ]]
}

@test "bad usage: the usage alone on standard error, exit 2, no signals" {
    run --separate-stderr "$STAGE/server" -s "$SOCK" --bogus
    [ "$status" -eq 2 ]
    [ -z "$output" ]
    [[ "$stderr" == *"$(help_usage)" ]]
    [[ "$stderr" != *SIGHUP* ]]
}

# bats test_tags=daemon
@test "SPEC, --help and the manual page list the same options and signals" {
    local spec_opts spec_sigs
    spec_opts=$(spec_section 2 | long_options)
    spec_sigs=$(spec_section 5 | grep '^| ' | signal_names)
    [ "$(echo "$spec_opts" | wc -l)" -eq 8 ]
    [ "$(echo "$spec_sigs" | wc -l)" -eq 6 ]
    [ "$(help_usage | long_options)" = "$spec_opts" ]
    [ "$(man_options)" = "$spec_opts" ]
    [ "$(help_signals | signal_names)" = "$spec_sigs" ]
    [ "$(man_section SIGNALS | grep '^\.It' | signal_names)" = "$spec_sigs" ]
    # One entry for each row of SPEC 5's table, "the same again" included.
    [ "$(help_signals | grep -c '^  ')" -eq "$(spec_section 5 | grep -c '^| [`t]')" ]
    [ "$(man_section SIGNALS | grep -c '^\.It')" -eq "$(spec_section 5 | grep -c '^| [`t]')" ]
    for section in NAME SYNOPSIS DESCRIPTION OPTIONS SIGNALS ENVIRONMENT FILES 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
        grep -q -x "\\.Sh $section" "$MAN"
    done
}

# --- NOTIFY_SOCKET ---------------------------------------------------------

# receive ADDRESS - a datagram socket of the test's own (a socat address:
# UNIX-RECV:PATH or ABSTRACT-RECV:NAME) whose datagrams go to $NOUT.
receive() {
    socat -u "$1" STDOUT >"$NOUT" 2>&1 3>&- &
    BG_PIDS+=("$!")
    wait_for "socat on $1" bound "$1"
}

# bound ADDRESS - true once the socket has its name (/proc/net/unix shows
# an abstract one with a leading @).
bound() {
    local name=${1#*:}
    case $1 in
    ABSTRACT-RECV:*) grep -q -E " @$name\$" /proc/net/unix ;;
    *) [ -S "$name" ] ;;
    esac
}

# notified LINE - true once a datagram brought LINE.
notified() {
    grep -q -x -F -- "$1" "$NOUT"
}

# start_traced NOTIFY ARGS... - the server under strace -f (listen,
# socket and sendto calls to $TRACE), with NOTIFY_SOCKET=NOTIFY, or unset
# if NOTIFY is empty; waits until it accepts. $MASTER is its pid.
start_traced() {
    local notify=$1
    shift
    if [ -n "$notify" ]; then
        start_bg env "$NO_LSAN" NOTIFY_SOCKET="$notify" strace -f -qq -o "$TRACE" \
            -e trace=listen,socket,sendto "$STAGE/server" -s "$SOCK" "$@"
    else
        start_bg env -u NOTIFY_SOCKET "$NO_LSAN" strace -f -qq -o "$TRACE" \
            -e trace=listen,socket,sendto "$STAGE/server" -s "$SOCK" "$@"
    fi
    wait_for "the master's first line" log_has 'master\[[0-9]+\]: started'
    MASTER=$(sed -n 's/^master\[\([0-9]*\)\]: started$/\1/p' "$OUT")
    LIVE_MASTER=$MASTER
    own_pid "$MASTER"
    wait_for "a connection to $SOCK" nc -U -z "$SOCK"
}

# stop_master SIGNAL - SIGNAL to the master; waits for strace to end,
# which it does once every process it traces has ended.
stop_master() {
    kill -"$1" "$MASTER"
    wait_exit "$BG_PID"
    LIVE_MASTER=
}

# bats test_tags=notify
@test "NOTIFY_SOCKET: READY=1 once the socket accepts, from the master alone" {
    receive "UNIX-RECV:$NSOCK"
    start_bg env "$NO_LSAN" NOTIFY_SOCKET="$NSOCK" strace -f -qq -o "$TRACE" \
        -e trace=listen,socket,sendto "$STAGE/server" -s "$SOCK" -w 2
    wait_for "READY=1" notified READY=1
    # At once, no retry: the socket accepts when READY=1 arrives.
    nc -U -z "$SOCK"
    notified "STATUS=2 workers"
    MASTER=$(sed -n 's/^master\[\([0-9]*\)\]: started$/\1/p' "$OUT")
    LIVE_MASTER=$MASTER
    [ -n "$MASTER" ]
    stop_master INT
    [ "$EXIT_STATUS" -eq 0 ]
    # In the master's own calls, listen() comes before READY=1.
    listen_at=$(grep -n -E "^$MASTER +listen\\(" "$TRACE" | cut -d: -f1)
    ready_at=$(grep -n -E "^$MASTER +sendto\\(.*READY=1" "$TRACE" | head -n 1 | cut -d: -f1)
    [ -n "$listen_at" ]
    [ -n "$ready_at" ]
    [ "$listen_at" -lt "$ready_at" ]
    # Every datagram is the master's: no worker sends.
    [ "$(grep -c -E '^[0-9]+ +sendto\(' "$TRACE")" -eq "$(grep -c -E "^$MASTER +sendto\\(" "$TRACE")" ]
}

# bats test_tags=notify
@test "NOTIFY_SOCKET with -d: READY=1 and STOPPING=1 come from the daemon, the master for good" {
    receive "UNIX-RECV:$NSOCK"
    cd "$BATS_TEST_TMPDIR"
    start_bg env "$NO_LSAN" NOTIFY_SOCKET="$NSOCK" strace -f -qq -o "$TRACE" \
        -e trace=listen,socket,sendto "$STAGE/server" -d -s "$SOCK" \
        -p server.pid -l server.log
    wait_for "READY=1" notified READY=1
    MASTER=$(cat server.pid)
    LIVE_MASTER=$MASTER
    [ -n "$MASTER" ]
    own_pid "$MASTER"
    nc -U -z "$SOCK"
    stop_master TERM
    [ "$EXIT_STATUS" -eq 0 ]
    notified STOPPING=1
    # Every datagram came from the daemon, the pid of the pidfile and of
    # the log's master.
    [ "$(grep -E '^[0-9]+ +sendto\(' "$TRACE" | cut -d' ' -f1 | sort -u)" = "$MASTER" ]
    grep -q -x -E "master\\[$MASTER\\]: started" server.log
}

# bats test_tags=notify
@test "NOTIFY_SOCKET: SIGHUP sends RELOADING=1 with MONOTONIC_USEC, then READY=1 when the reload is done" {
    receive "UNIX-RECV:$NSOCK"
    start_traced "$NSOCK" -w 3
    wait_for "READY=1" notified READY=1
    kill -HUP "$MASTER"
    wait_for "the reload" log_has "master\\[$MASTER\\]: reload finished"
    wait_for "READY=1 again" eval '[ "$(grep -c -x READY=1 "$NOUT")" -eq 2 ]'
    # Not a wait for readiness: a known interval (sleep counts it on
    # CLOCK_MONOTONIC) between the two reloads, for their clocks to show.
    sleep 0.2
    kill -HUP "$MASTER"
    wait_for "the second reload" eval '[ "$(grep -c -x READY=1 "$NOUT")" -eq 3 ]'
    stop_master INT
    [ "$EXIT_STATUS" -eq 0 ]
    uptime_usec=$(awk '{ printf "%.0f", $1 * 1000000 }' /proc/uptime)
    [ "$(sed -E 's/^MONOTONIC_USEC=[1-9][0-9]*$/MONOTONIC_USEC=N/' "$NOUT")" = "$(printf '%s\n' \
        READY=1 'STATUS=3 workers' \
        RELOADING=1 MONOTONIC_USEC=N 'STATUS=reloading 3 workers' READY=1 'STATUS=3 workers' \
        RELOADING=1 MONOTONIC_USEC=N 'STATUS=reloading 3 workers' READY=1 'STATUS=3 workers' \
        STOPPING=1 'STATUS=stopping: the workers finish their queues')" ]
    # CLOCK_MONOTONIC in microseconds: at least the 0.2 s slept between
    # the reloads (not milliseconds, not seconds), and never beyond the
    # time since boot, which /proc/uptime gives to 10 ms and which
    # CLOCK_MONOTONIC never exceeds (not CLOCK_REALTIME, not nanoseconds).
    mapfile -t usec < <(sed -n 's/^MONOTONIC_USEC=//p' "$NOUT")
    [ "$((usec[1] - usec[0]))" -ge 200000 ]
    [ "${usec[1]}" -le "$((uptime_usec + 10000))" ]
}

# bats test_tags=notify
@test "NOTIFY_SOCKET: STOPPING=1 when a stop begins, and nothing after it" {
    receive "UNIX-RECV:$NSOCK"
    start_traced "$NSOCK" -w 1 --work-ms 300
    wait_for "READY=1" notified READY=1
    printf 'm%d\n' 1 2 3 | timeout "$DEADLINE" nc -U -N "$SOCK" >/dev/null
    kill -INT "$MASTER"
    wait_for "STOPPING=1" notified STOPPING=1
    stop_master INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 2 "$NOUT" | head -n 1)" = STOPPING=1 ]
}

# bats test_tags=notify
@test "NOTIFY_SOCKET: a stop during a reload ends it with STOPPING=1; READY=1 never follows" {
    receive "UNIX-RECV:$NSOCK"
    start_server env NOTIFY_SOCKET="$NSOCK" "$STAGE/server" -s "$SOCK" -w 1
    wait_for "READY=1" notified READY=1
    # Stopped, the worker cannot take its exit order: the reload is still
    # going when the stop comes.
    worker=$(worker_pids "$OUT")
    kill -STOP "$worker"
    kill -HUP "$SERVER_PID"
    wait_for "RELOADING=1" notified RELOADING=1
    kill -INT "$SERVER_PID"
    wait_for "STOPPING=1" notified STOPPING=1
    kill -CONT "$worker"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    ! log_has "master\\[$SERVER_PID\\]: reload finished" || false
    # READY=1 at start only; the reload left by STOPPING=1, the last word.
    [ "$(grep -c -x READY=1 "$NOUT")" -eq 1 ]
    [ "$(grep -x -E 'READY=1|RELOADING=1|STOPPING=1' "$NOUT" | tr '\n' ' ')" = "READY=1 RELOADING=1 STOPPING=1 " ]
    [ "$(tail -n 2 "$NOUT" | head -n 1)" = STOPPING=1 ]
}

# bats test_tags=notify
@test "NOTIFY_SOCKET of a manager that never reads: the master never waits, and warns once" {
    local deaf end
    receive "UNIX-RECV:$NSOCK"
    # Stopped, socat reads nothing: its receive queue fills (at most
    # net.unix.max_dgram_qlen datagrams: 10 by default, 512 where systemd
    # sets it), and a send then fails with EAGAIN, or would wait for ever
    # without MSG_DONTWAIT.
    deaf=${BG_PIDS[-1]}
    kill -STOP "$deaf"
    start_server env NOTIFY_SOCKET="$NSOCK" "$STAGE/server" -s "$SOCK" -w 2
    # Each SIGTTIN or SIGTTOU that changes the count sends a datagram;
    # two of a kind may arrive as one, so no count is assumed.
    end=$((SECONDS + DEADLINE))
    while ! log_has "master\\[$SERVER_PID\\]: error: NOTIFY_SOCKET .*: sendto: Resource temporarily unavailable"; do
        [ "$SECONDS" -lt "$end" ]
        kill -TTIN "$SERVER_PID"
        kill -TTOU "$SERVER_PID"
    done
    # The master still serves and answers signals.
    [ "$(echo hello | timeout "$DEADLINE" nc -U -N "$SOCK")" = OK ]
    kill -USR1 "$SERVER_PID"
    wait_for "the status" log_has "master\\[$SERVER_PID\\]: status: [0-9]+ workers?, .*"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(grep -c 'error:' "$OUT")" -eq 1 ]
}

# bats test_tags=notify
@test "NOTIFY_SOCKET: SIGTTIN and SIGTTOU send the new worker count" {
    receive "UNIX-RECV:$NSOCK"
    start_traced "$NSOCK" -w 1
    wait_for "READY=1" notified READY=1
    kill -TTIN "$MASTER"
    wait_for "STATUS=2 workers" notified "STATUS=2 workers"
    kill -TTOU "$MASTER"
    wait_for "STATUS=1 worker" eval '[ "$(grep -c -x "STATUS=1 worker" "$NOUT")" -eq 2 ]'
    stop_master INT
    [ "$EXIT_STATUS" -eq 0 ]
}

# bats test_tags=notify
@test "NOTIFY_SOCKET=@name: an abstract socket works too" {
    local name
    name=pool-notify-$$-$RANDOM$RANDOM
    receive "ABSTRACT-RECV:$name"
    start_traced "@$name" -w 2
    wait_for "READY=1" notified READY=1
    notified "STATUS=2 workers"
    stop_master TERM
    [ "$EXIT_STATUS" -eq 0 ]
    notified STOPPING=1
}

# bats test_tags=reload
@test "no NOTIFY_SOCKET: no datagram socket, nothing sent" {
    start_traced "" -w 2
    kill -HUP "$MASTER"
    wait_for "the reload" log_has "master\\[$MASTER\\]: reload finished"
    stop_master INT
    [ "$EXIT_STATUS" -eq 0 ]
    grep -q -E '^[0-9]+ +listen\(' "$TRACE"
    ! grep -q -E 'SOCK_DGRAM|sendto\(' "$TRACE" || false
}

# bats test_tags=notify
@test "a NOTIFY_SOCKET nobody listens on: one warning, and the pool serves, reloads and stops" {
    start_traced "$BATS_TEST_TMPDIR/nobody.sock" -w 2
    [ "$(printf 'a\nb\n' | timeout "$DEADLINE" nc -U -N "$SOCK")" = "$(printf 'OK\nOK')" ]
    kill -HUP "$MASTER"
    wait_for "the reload" log_has "master\\[$MASTER\\]: reload finished"
    kill -TTIN "$MASTER"
    wait_for "the new slot" log_has "master\\[$MASTER\\]: added slot 2 .*"
    stop_master INT
    [ "$EXIT_STATUS" -eq 0 ]
    # Five datagrams tried (READY, RELOADING, READY, STATUS, STOPPING),
    # one warning.
    [ "$(grep -c -E '^[0-9]+ +sendto\(' "$TRACE")" -eq 5 ]
    [ "$(log_count "master\\[$MASTER\\]: error: NOTIFY_SOCKET .*nobody.sock: sendto: No such file or directory")" -eq 1 ]
    [ "$(grep -c 'error:' "$OUT")" -eq 1 ]
}

# bats test_tags=notify
@test "a NOTIFY_SOCKET that is no absolute path or @name: one line on standard error, and the pool runs" {
    start_traced notify.sock -w 1
    [ "$(cat "$ERR")" = "server: NOTIFY_SOCKET 'notify.sock': not an absolute path or @name that fits a socket address; not notifying" ]
    stop_master INT
    [ "$EXIT_STATUS" -eq 0 ]
    ! grep -q -E 'SOCK_DGRAM|sendto\(' "$TRACE" || false
}

# --- the log ---------------------------------------------------------------

# bats test_tags=status
@test "plurals: 1 worker, 1 restart, reloading 1 worker" {
    start_server "$STAGE/server" -s "$SOCK" -w 2
    kill -TTOU "$SERVER_PID"
    wait_for "the retirement" log_has "master\\[$SERVER_PID\\]: slot 1 retired"
    log_has "master\\[$SERVER_PID\\]: retiring slot 1 \\(worker [0-9]+\\); 1 worker"
    kill -HUP "$SERVER_PID"
    wait_for "the reload" log_has "master\\[$SERVER_PID\\]: reload finished"
    log_has "master\\[$SERVER_PID\\]: reloading 1 worker, one slot at a time"
    worker=$(sed -n 's/.*reloaded slot 0: worker [0-9]* replaced by worker \([0-9]*\)$/\1/p' "$OUT")
    kill -KILL "$worker"
    wait_for "the restart" log_has "master\\[$SERVER_PID\\]: (slot 0: started worker [0-9]+ \\(restart 1\\)|restarted slot 0: .*)"
    kill -USR1 "$SERVER_PID"
    wait_for "the status" log_has "master\\[$SERVER_PID\\]: status: 1 worker, .*"
    log_has "master\\[$SERVER_PID\\]: status: slot 0, worker [0-9]+, 0 dispatched, 0 queued, 1 restart"
    log_has "master\\[$SERVER_PID\\]: status: 1 worker, 0 dispatched, 0 dropped, 0 connections"
    kill -TTIN "$SERVER_PID"
    wait_for "the new slot" log_has "master\\[$SERVER_PID\\]: added slot 1 .*; 2 workers"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    # Nowhere a count of one with a plural noun.
    ! grep -E '(^|[^0-9])1 [a-z]+s([^a-z]|$)' "$OUT" || false
}

# bats test_tags=status
@test "status while a slot waits for its next worker: the summary counts live workers and names the slot" {
    start_server "$STAGE/server" -s "$SOCK" -w 2
    # A worker that dies young is restarted after a delay (SPEC 6).
    kill -KILL "$(worker_pids "$OUT" | head -n 1)"
    wait_for "the restart delay" log_has "master\\[$SERVER_PID\\]: worker [0-9]+ \\(slot [01]\\) died [0-9]+ ms after start; restarting in [0-9]+ ms"
    # Stopped, the master cannot start the new worker before it has read
    # the SIGUSR1 sent meanwhile: signals come first in its loop.
    kill -STOP "$SERVER_PID"
    kill -USR1 "$SERVER_PID"
    kill -CONT "$SERVER_PID"
    wait_for "the status" log_has "master\\[$SERVER_PID\\]: status: [0-9]+ workers?, .*"
    log_has "master\\[$SERVER_PID\\]: status: slot [01], no worker \\(one starts in [0-9]+ ms\\), 0 dispatched, 0 queued, 1 restart"
    log_has "master\\[$SERVER_PID\\]: status: 1 worker, 1 slot with no worker yet, 0 dispatched, 0 dropped, 0 connections"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
}

# status_during_stop WORKER - SIGINT, then SIGUSR1 once the stop has
# begun, while WORKER is stopped; then lets WORKER go and waits for a
# clean exit.
status_during_stop() {
    kill -INT "$SERVER_PID"
    wait_for "the stop" log_has "master\\[$SERVER_PID\\]: event loop stopped"
    kill -USR1 "$SERVER_PID"
    wait_for "the status" log_has "master\\[$SERVER_PID\\]: status: [0-9]+ workers?, .*"
    kill -CONT "$1"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
}

# bats test_tags=status
@test "SIGUSR1 during a stop: the status, with what is left to drain" {
    start_server "$STAGE/server" -s "$SOCK" -w 1 --work-ms 1000
    echo m1 | timeout "$DEADLINE" nc -U -N "$SOCK" >/dev/null
    wait_for "m1 in the worker's hands" log_has 'worker\[[0-9]+\]: received "m1"'
    # Stopped, the worker holds m1 and takes nothing more: what is left
    # is known exactly.
    worker=$(worker_pids "$OUT")
    kill -STOP "$worker"
    printf 'm%d\n' 2 3 4 5 | timeout "$DEADLINE" nc -U -N "$SOCK" >/dev/null
    status_during_stop "$worker"
    # The queue holds m2..m5 and the exit order; m1 is in the worker's
    # hands.
    log_has "master\\[$SERVER_PID\\]: status: slot 0, worker $worker, 5 dispatched, 5 queued, 0 restarts"
    log_has "master\\[$SERVER_PID\\]: status: 1 worker, stopping with 5 messages left, 5 dispatched, 0 dropped, [01] connections?"
    # It came during the stop, before the worker handled the rest.
    [ "$(grep -n -E 'status: [0-9]+ workers?, ' "$OUT" | cut -d: -f1)" -lt "$(grep -n -F 'received "m2"' "$OUT" | cut -d: -f1)" ]
    [ "$(all_received "$OUT" | tr '\n' ' ')" = "m1 m2 m3 m4 m5 " ]
}

# bats test_tags=status
@test "SIGUSR1 during a stop with one message left: 1 message, in the singular" {
    start_server "$STAGE/server" -s "$SOCK" -w 1
    # Stopped, the worker takes neither the message nor its exit order.
    worker=$(worker_pids "$OUT")
    kill -STOP "$worker"
    echo m1 | timeout "$DEADLINE" nc -U -N "$SOCK" >/dev/null
    status_during_stop "$worker"
    log_has "master\\[$SERVER_PID\\]: status: 1 worker, stopping with 1 message left, 1 dispatched, 0 dropped, [01] connections?"
    log_has 'worker\[[0-9]+\]: received "m1"'
}

# bats test_tags=status
@test "SIGUSR1 during a stop at once: the summary says terminating" {
    start_server "$STAGE/server" -s "$SOCK" -w 1
    # Stopped, the worker holds up the graceful stop until the second
    # SIGINT comes.
    worker=$(worker_pids "$OUT")
    kill -STOP "$worker"
    kill -INT "$SERVER_PID"
    wait_for "the stop" log_has "master\\[$SERVER_PID\\]: event loop stopped"
    # Both come while the master is stopped, and are delivered in the
    # order of their numbers: SIGINT (2), then SIGUSR1 (10). So the status
    # is logged before any worker is reaped.
    kill -STOP "$SERVER_PID"
    kill -INT "$SERVER_PID"
    kill -USR1 "$SERVER_PID"
    kill -CONT "$SERVER_PID"
    wait_for "the status" log_has "master\\[$SERVER_PID\\]: status: [0-9]+ workers?, .*"
    # Not an assertion: the master's kill may have ended it already.
    kill -CONT "$worker" 2>/dev/null || true
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    log_has "master\\[$SERVER_PID\\]: SIGINT again: terminating the workers"
    log_has "master\\[$SERVER_PID\\]: status: 1 worker, terminating, 0 dispatched, 0 dropped, 0 connections"
}
