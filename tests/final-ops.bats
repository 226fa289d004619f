#!/usr/bin/env bats
# final-ops.bats - the final pool's operations (final/SPEC.md 5-7): a
# worker killed with SIGKILL is replaced in its slot and the message it
# held is handed to its replacement; a crash storm is slowed down by growing
# restart delays and the slot comes back; --timeout replaces a stuck worker
# and drops a message that stalls two workers; SIGHUP replaces every worker
# under pipelined load without losing or doubling an acknowledged message;
# SIGTTIN/SIGTTOU grow and shrink the pool and round-robin follows; SIGUSR1
# logs the status table; a master killed with SIGKILL leaves no worker and
# no queue; daemon mode with pidfile and log file, also with relative paths.
#
#   unshare --ipc bats tests/final-ops.bats
#   STAGE=/some/copy bats tests/final-ops.bats    (test a modified copy)

STAGE=${STAGE:-$BATS_TEST_DIRNAME/../final}
# Absolute and without symbolic links: the daemon tests run from another
# directory, and is_server compares it with /proc/PID/exe.
STAGE=$(cd "$STAGE" && pwd -P)

load helpers

setup_file() { build_stage "$STAGE"; }

setup() {
    common_setup
    IN=$BATS_TEST_TMPDIR/input
    SERVER_PID=
    EXTRA_PIDS=() # clients started in the background
    STOPPED=()    # workers stopped with SIGSTOP
    ORPHANS=()    # workers whose master was killed
    PIDFILES=()   # pidfiles of daemons this test started
    DAEMONS=()    # their pids, once known
}

teardown() {
    local pid pids=() child

    if [ "${#STOPPED[@]}" -gt 0 ]; then
        kill -CONT "${STOPPED[@]}" 2>/dev/null || true
    fi
    for pid in "${EXTRA_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    # A daemon is nobody's child here, so common_teardown does not know it:
    # find it by its pidfile, by what the test learnt, and by a command line
    # that names this test's directory. Stop each first (SIGSTOP), so that
    # none starts new workers while its workers are killed, then kill it.
    for pid in $(cat "${PIDFILES[@]}" /dev/null 2>/dev/null) "${DAEMONS[@]}" \
        $(servers_naming "$BATS_TEST_TMPDIR"); do
        if is_server "$pid"; then
            kill -STOP "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        for child in $(children_of "$pid"); do
            if is_server "$child"; then
                kill -KILL "$child" 2>/dev/null || true
                ORPHANS+=("$child")
            fi
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${ORPHANS[@]}"; do
        if is_server "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    for pid in "${pids[@]}" "${ORPHANS[@]}"; do
        wait_for "process $pid to end" not_running "$pid" || true
    done
    common_teardown
}

# servers_naming TEXT - the pids of the $STAGE/server processes whose
# command line holds TEXT.
servers_naming() {
    local f pid
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}
        pid=${pid%/cmdline}
        [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$STAGE/server" ] &&
            tr '\0' ' ' <"$f" 2>/dev/null | grep -q -F -- "$1" &&
            echo "$pid"
    done
    return 0
}

# is_server PID - true if PID is a running process of $STAGE/server (so a
# pid that was reused meanwhile is never killed).
is_server() {
    if [ -z "$1" ] || ! running "$1"; then
        return 1
    fi
    [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$STAGE/server" ]
}

# serve ARGS... - starts the server on $SOCK with ARGS, waits until it
# accepts connections and until its first N workers (-w, default 3) have
# logged "started".
serve() {
    local n=3 prev= arg
    for arg in "$@"; do
        if [ "$prev" = -w ]; then n=$arg; fi
        prev=$arg
    done
    start_server "$STAGE/server" -s "$SOCK" "$@"
    wait_for "$n workers to start" started_count_is "$n"
}

started_count_is() {
    [ "$(worker_pids "$OUT" | wc -l)" -eq "$1" ]
}

# send - sends standard input over one connection and prints the replies.
# Bounded by $DEADLINE, so a server that never answers fails the test.
send() {
    timeout "$DEADLINE" nc -U -N "$SOCK"
}

# oks N - N lines of OK.
oks() {
    local i
    for ((i = 0; i < $1; i++)); do echo OK; done
}

# receivers MSG - the pid of each worker that logged MSG as received, one
# per line, in log order (MSG: letters and digits only).
receivers() {
    sed -n "s/^worker\\[\\([0-9]*\\)\\]: received \"$1\"\$/\\1/p" "$OUT"
}

# all_of_file_received FILE - true once every line of FILE was received.
all_of_file_received() {
    local msg
    while read -r msg; do
        was_received "$msg" || return 1
    done <"$1"
}

received_count() {
    all_received "$OUT" | wc -l
}

received_at_least() {
    [ "$(received_count)" -ge "$1" ]
}

# slot_starts N - the pids of the workers the master started in slot N
# after the first one (respawned, reloaded or added), in log order.
slot_starts() {
    sed -n -E \
        -e "s/^master\\[[0-9]+\\]: slot $1: started worker ([0-9]+) \\(restart [0-9]+\\)\$/\\1/p" \
        -e "s/^master\\[[0-9]+\\]: (restarted|reloaded) slot $1: worker [0-9]+ replaced by worker ([0-9]+)\$/\\2/p" \
        -e "s/^master\\[[0-9]+\\]: added slot $1 \\(worker ([0-9]+)\\); [0-9]+ workers\$/\\1/p" \
        "$OUT"
}

slot_starts_at_least() {
    [ "$(slot_starts "$1" | wc -l)" -ge "$2" ]
}

# contains WORD LIST... - true if WORD is one of LIST.
contains() {
    local word=$1 x
    shift
    for x in "$@"; do
        if [ "$x" = "$word" ]; then return 0; fi
    done
    return 1
}

# distinct ARGS... - how many different words ARGS holds.
distinct() {
    printf '%s\n' "$@" | sort -u | wc -l
}

# status_of PID - sends SIGUSR1 to PID and waits for the summary line it
# adds to $OUT.
status_of() {
    local before
    before=$(log_count "master\\[$1\\]: status: [0-9]+ workers?, .*")
    kill -USR1 "$1"
    wait_for "the status table" summary_count_above "$1" "$before"
}

summary_count_above() {
    [ "$(log_count "master\\[$1\\]: status: [0-9]+ workers?, .*")" -gt "$2" ]
}

# last_status_line SLOT - the slot's line in the latest status table.
last_status_line() {
    grep -E "^master\\[[0-9]+\\]: status: slot $1, " "$OUT" | tail -n 1
}

last_summary_line() {
    grep -E '^master\[[0-9]+\]: status: [0-9]+ workers?, ' "$OUT" | tail -n 1
}

# bats test_tags=at-least-once
@test "kill -9 of a busy worker: a new worker in its slot takes the held message first, then the queue" {
    serve --work-ms 1000
    printf 'm%d\n' 1 2 3 4 5 6 7 8 9 >"$IN"
    run send <"$IN"
    [ "$status" -eq 0 ]
    [ "$output" = "$(oks 9)" ]

    # m1 went to slot 0 (round-robin starts there); its worker now works on
    # it for a second, with m4 and m7 waiting on its queue.
    wait_for "m1 to be received" was_received m1
    old=$(receivers m1)
    kill -KILL "$old"
    wait_for "the death to be logged" log_has \
        "master\\[$SERVER_PID\\]: worker $old \\(slot 0\\) was killed by signal 9 \\(Killed\\)"
    wait_for "a new worker in slot 0" slot_starts_at_least 0 1
    new=$(slot_starts 0)
    [ "$new" != "$old" ]
    wait_for "the redelivery" log_has \
        "master\\[$SERVER_PID\\]: redelivering message 1 from worker\\[$old\\] to worker\\[$new\\]"
    wait_for "every message to be received" all_of_file_received "$IN"

    # The message the dead worker held was handled again, by the new one,
    # and so were the ones waiting on the queue.
    [ "$(receivers m1 | wc -l)" -eq 2 ]
    [ "$(receivers m1 | tail -n 1)" = "$new" ]
    [ "$(receivers m4)" = "$new" ]
    [ "$(receivers m7)" = "$new" ]
    for m in m2 m3 m5 m6 m8 m9; do
        [ "$(receivers "$m" | wc -l)" -eq 1 ]
    done
    # The other slots went on as before.
    [ "$(receivers m2)" = "$(receivers m5)" ]
    [ "$(receivers m2)" = "$(receivers m8)" ]
    [ "$(receivers m3)" = "$(receivers m6)" ]
    [ "$(receivers m3)" = "$(receivers m9)" ]
    [ "$(distinct "$new" "$(receivers m2)" "$(receivers m3)")" -eq 3 ]
    running "$new"

    if stage_handles SIGUSR1; then
        status_of "$SERVER_PID"
        [[ "$(last_status_line 0)" == *"status: slot 0, worker $new, 3 dispatched, "*", 1 restart" ]]
    fi

    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ ! -s "$ERR" ] # nothing on standard error, no sanitizer report
    [ -z "$(new_queues)" ]
}

# bats test_tags=backoff
@test "a crash storm: tens of restarts at most, with growing delays; then the slot comes back and serves" {
    serve
    echo first | send
    wait_for "the first message to be received" was_received first
    killed=("$(receivers first)") # the worker of slot 0

    # For three seconds, kill every worker slot 0 gets, as soon as the
    # master names it.
    kill -KILL "${killed[0]}"
    end=$((${EPOCHREALTIME//[.,]/} / 1000 + 3000))
    while [ $((${EPOCHREALTIME//[.,]/} / 1000)) -lt "$end" ]; do
        for pid in $(slot_starts 0); do
            if ! contains "$pid" "${killed[@]}"; then
                kill -KILL "$pid" 2>/dev/null || true
                killed+=("$pid")
            fi
        done
        sleep 0.02
    done

    starts=$(slot_starts 0 | wc -l)
    echo "slot 0 was started $starts times in 3 s" >&2
    [ "$starts" -ge 2 ]
    [ "$starts" -lt 15 ]
    # The delays grow (100 ms, 200 ms, 400 ms, ...).
    sed -n -E 's/^master\[[0-9]+\]: worker [0-9]+ \(slot 0\) died [0-9]+ ms after start; restarting in ([0-9]+) ms$/\1/p' "$OUT" >"$BATS_TEST_TMPDIR/delays"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/delays")" -ge 2 ]
    awk 'NR > 1 && $1 <= prev && $1 < 3200 { exit 1 } { prev = $1 }' "$BATS_TEST_TMPDIR/delays"
    # The other slots were left alone.
    [ -z "$(slot_starts 1)" ]
    [ -z "$(slot_starts 2)" ]

    # Left alone now, slot 0 gets a worker that stays.
    wait_for "slot 0 to get a worker that is not killed" slot0_back
    back=$(slot_starts 0 | tail -n 1)
    printf 'q%d\n' 1 2 3 >"$IN"
    run send <"$IN"
    [ "$status" -eq 0 ]
    [ "$output" = "$(oks 3)" ]
    wait_for "q1 q2 q3 to be received" all_of_file_received "$IN"
    [ "$(distinct "$(receivers q1)" "$(receivers q2)" "$(receivers q3)")" -eq 3 ]
    contains "$back" "$(receivers q1)" "$(receivers q2)" "$(receivers q3)"
    running "$back"

    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ ! -s "$ERR" ] # nothing on standard error, no sanitizer report
    [ -z "$(new_queues)" ]
}

# slot0_back - true once the latest worker of slot 0 is one the crash-storm
# test did not kill, and runs.
slot0_back() {
    local last
    last=$(slot_starts 0 | tail -n 1)
    if [ -z "$last" ] || contains "$last" "${killed[@]}"; then
        return 1
    fi
    running "$last"
}

# bats test_tags=timeout
@test "--timeout replaces a stuck worker; a message that stalls two workers is dropped; the pool goes on" {
    serve -w 1 --timeout 1 --work-ms 3000
    run send <<<slow
    [ "$output" = OK ]
    wait_for "slow to be received" was_received slow
    first=$(receivers slow)

    wait_for "the first worker to be declared stuck" log_has \
        "master\\[$SERVER_PID\\]: worker $first \\(slot 0\\) stuck on one message for over 1 s; killing it"
    wait_for "its death" log_has \
        "master\\[$SERVER_PID\\]: worker $first \\(slot 0\\) was killed by signal 9 \\(Killed\\)"
    wait_for "a second worker" slot_starts_at_least 0 1
    second=$(slot_starts 0)
    [ "$second" != "$first" ]
    wait_for "the redelivery" log_has \
        "master\\[$SERVER_PID\\]: redelivering message 1 from worker\\[$first\\] to worker\\[$second\\]"

    wait_for "the second worker to be declared stuck" log_has \
        "master\\[$SERVER_PID\\]: worker $second \\(slot 0\\) stuck on one message for over 1 s; killing it"
    wait_for "the message to be dropped" log_has \
        "master\\[$SERVER_PID\\]: dropping message \"slow\": worker\\[$second\\] died on it after redelivery"
    wait_for "a third worker" slot_starts_at_least 0 2
    third=$(slot_starts 0 | tail -n 1)
    [ "$(distinct "$first" "$second" "$third")" -eq 3 ]
    [ "$(receivers slow | tr '\n' ' ')" = "$first $second " ]
    # Dropped, not handed to the third worker.
    ! log_has "master\\[$SERVER_PID\\]: redelivering message 1 from worker\\[$second\\] .*" || false

    if stage_handles SIGUSR1; then
        status_of "$SERVER_PID"
        [[ "$(last_status_line 0)" == *"status: slot 0, worker $third, 1 dispatched, 0 queued, 2 restarts" ]]
        [[ "$(last_summary_line)" == *", 1 dispatched, 1 dropped, "* ]]
    fi

    # The pool still takes and hands out messages.
    run send <<<after
    [ "$output" = OK ]
    wait_for "after to be received" was_received after
    [ "$(receivers after)" = "$third" ]
    [ ! -s "$ERR" ]
}

# paced PREFIX - the lines PREFIX1 .. PREFIX3000, 30 at a time about every
# 10 ms: a load that lasts a second or more, so a reload falls within it.
# In a bash of its own: bats traces every command of the test's shell, which
# would slow this loop down several times.
paced() {
    bash -c 'for ((i = 1; i <= 3000; i++)); do
            echo "$0$i"
            if ((i % 30 == 0)); then sleep 0.01; fi
        done' "$1"
}

# received_by_any PID... - how many messages these workers logged.
received_by_any() {
    local pid n=0
    for pid in "$@"; do
        n=$((n + $(received_by "$pid" "$OUT" | wc -l)))
    done
    echo "$n"
}

# bats test_tags=reload
@test "SIGHUP under pipelined load from two clients: every worker replaced, no OK'd message lost or doubled" {
    serve --work-ms 1
    mapfile -t old < <(worker_pids "$OUT")
    seq 3000 | sed 's/^/a/' >"$BATS_TEST_TMPDIR/in1"
    seq 3000 | sed 's/^/b/' >"$BATS_TEST_TMPDIR/in2"
    # Each client sends without waiting for replies, for a second or more.
    nc -U -N "$SOCK" < <(paced a 3>&-) >"$BATS_TEST_TMPDIR/rep1" 3>&- &
    EXTRA_PIDS+=("$!")
    nc -U -N "$SOCK" < <(paced b 3>&-) >"$BATS_TEST_TMPDIR/rep2" 3>&- &
    EXTRA_PIDS+=("$!")
    wait_for "the first messages to be received" received_at_least 1
    kill -HUP "$SERVER_PID"
    for pid in "${EXTRA_PIDS[@]}"; do
        wait_exit "$pid"
        [ "$EXIT_STATUS" -eq 0 ]
    done
    wait_for "the reload to finish" log_has "master\\[$SERVER_PID\\]: reload finished"

    # Reply line k answers input line k: OK or BUSY, nothing else.
    for c in 1 2; do
        [ "$(wc -l <"$BATS_TEST_TMPDIR/rep$c")" -eq 3000 ]
        paste -d ' ' "$BATS_TEST_TMPDIR/in$c" "$BATS_TEST_TMPDIR/rep$c"
    done >"$BATS_TEST_TMPDIR/pairs"
    [ -z "$(awk '$2 != "OK" && $2 != "BUSY"' "$BATS_TEST_TMPDIR/pairs")" ]
    awk '$2 == "OK" { print $1 }' "$BATS_TEST_TMPDIR/pairs" | sort >"$BATS_TEST_TMPDIR/expected"
    oked=$(wc -l <"$BATS_TEST_TMPDIR/expected")
    echo "$oked of 6000 messages were OK'd" >&2
    [ "$oked" -gt 0 ]
    wait_for "every OK'd message to be received" received_at_least "$oked"
    # Exactly the OK'd messages, each once.
    all_received "$OUT" | sort >"$BATS_TEST_TMPDIR/got"
    diff "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/got"

    # Each slot was reloaded once: old worker out, a new one in.
    log_has "master\\[$SERVER_PID\\]: reloading 3 workers, one slot at a time"
    new=()
    for slot in 0 1 2; do
        line=$(grep -E "^master\\[$SERVER_PID\\]: reloaded slot $slot: " "$OUT")
        [ "$(echo "$line" | wc -l)" -eq 1 ]
        [[ "$line" =~ worker\ ([0-9]+)\ replaced\ by\ worker\ ([0-9]+)$ ]]
        contains "${BASH_REMATCH[1]}" "${old[@]}"
        new+=("${BASH_REMATCH[2]}")
    done
    [ "$(distinct "${old[@]}" "${new[@]}")" -eq 6 ]
    for pid in "${old[@]}"; do
        log_has "worker\\[$pid\\]: exited"
        not_running "$pid"
    done
    for pid in "${new[@]}"; do
        running "$pid"
        log_has "worker\\[$pid\\]: started"
    done
    # The reload happened under load: the old workers took messages, and so
    # did the new ones.
    [ "$(received_by_any "${old[@]}")" -gt 0 ]
    [ "$(received_by_any "${new[@]}")" -gt 0 ]
    # Nobody died, and the workers the master now knows are the new ones.
    ! log_has "master\\[[0-9]+\\]: worker [0-9]+ \\(slot [0-9]+\\) (was killed|exited with).*" || false
    if stage_handles SIGUSR1; then
        status_of "$SERVER_PID"
        for slot in 0 1 2; do
            [[ "$(last_status_line "$slot")" == *"status: slot $slot, worker ${new[$slot]}, "* ]]
        done
    fi

    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ ! -s "$ERR" ] # nothing on standard error, no sanitizer report
    [ -z "$(new_queues)" ]
}

# bats test_tags=scaling
@test "SIGTTIN adds a worker and SIGTTOU retires it; round-robin follows the count" {
    serve
    kill -TTIN "$SERVER_PID"
    wait_for "a fourth slot" slot_starts_at_least 3 1
    added=$(slot_starts 3)
    log_has "master\\[$SERVER_PID\\]: added slot 3 \\(worker $added\\); 4 workers"
    wait_for "the new worker to start" log_has "worker\\[$added\\]: started"
    [ "$(new_queues | wc -l)" -eq 4 ]

    # Round-robin over four: x1 and x5 to one worker, x2 and x6 to the next...
    printf 'x%d\n' 1 2 3 4 5 6 7 8 >"$IN"
    run send <"$IN"
    [ "$output" = "$(oks 8)" ]
    wait_for "x1..x8 to be received" all_of_file_received "$IN"
    [ "$(received_count)" -eq 8 ]
    for k in 1 2 3 4; do
        [ "$(receivers "x$k")" = "$(receivers "x$((k + 4))")" ]
    done
    [ "$(distinct "$(receivers x1)" "$(receivers x2)" "$(receivers x3)" "$(receivers x4)")" -eq 4 ]
    contains "$added" "$(receivers x1)" "$(receivers x2)" "$(receivers x3)" "$(receivers x4)"

    kill -TTOU "$SERVER_PID"
    wait_for "slot 3 to be retired" log_has "master\\[$SERVER_PID\\]: slot 3 retired"
    log_has "master\\[$SERVER_PID\\]: retiring slot 3 \\(worker $added\\); 3 workers"
    log_has "worker\\[$added\\]: exited"
    wait_for "the retired worker to end" not_running "$added"
    [ "$(new_queues | wc -l)" -eq 3 ]

    # Round-robin over three, without the retired worker.
    printf 'y%d\n' 1 2 3 4 5 6 >"$IN"
    run send <"$IN"
    [ "$output" = "$(oks 6)" ]
    wait_for "y1..y6 to be received" all_of_file_received "$IN"
    [ "$(received_count)" -eq 14 ]
    for k in 1 2 3; do
        [ "$(receivers "y$k")" = "$(receivers "y$((k + 3))")" ]
    done
    [ "$(distinct "$(receivers y1)" "$(receivers y2)" "$(receivers y3)")" -eq 3 ]
    ! contains "$added" "$(receivers y1)" "$(receivers y2)" "$(receivers y3)" || false

    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ ! -s "$ERR" ] # nothing on standard error, no sanitizer report
    [ -z "$(new_queues)" ]
}

# bats test_tags=scaling
@test "SIGTTOU never removes the last worker" {
    serve -w 1
    only=$(worker_pids "$OUT")
    kill -TTOU "$SERVER_PID"
    wait_for "the refusal" log_has \
        "master\\[$SERVER_PID\\]: only one worker left; not removing it"
    ! log_has "master\\[[0-9]+\\]: retiring .*" || false
    running "$only"
    run send <<<still
    [ "$output" = OK ]
    wait_for "the message to be received" was_received still
    [ "$(receivers still)" = "$only" ]

    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ ! -s "$ERR" ] # nothing on standard error, no sanitizer report
}

# bats test_tags=status
@test "SIGUSR1 logs one status line per slot and a summary" {
    serve
    printf 's%d\n' 1 2 3 4 5 6 7 >"$IN"
    run send <"$IN"
    [ "$output" = "$(oks 7)" ]
    wait_for "s1..s7 to be received" all_of_file_received "$IN"
    w0=$(receivers s1) w1=$(receivers s2) w2=$(receivers s3)

    status_of "$SERVER_PID"
    [ "$(log_count "master\\[$SERVER_PID\\]: status: slot [0-9]+, .*")" -eq 3 ]
    log_has "master\\[$SERVER_PID\\]: status: slot 0, worker $w0, 3 dispatched, 0 queued, 0 restarts"
    log_has "master\\[$SERVER_PID\\]: status: slot 1, worker $w1, 2 dispatched, 0 queued, 0 restarts"
    log_has "master\\[$SERVER_PID\\]: status: slot 2, worker $w2, 2 dispatched, 0 queued, 0 restarts"
    log_has "master\\[$SERVER_PID\\]: status: 3 workers, 7 dispatched, 0 dropped, 0 connections"

    # A stopped worker takes nothing: what is sent to its slot waits there.
    # s8 goes to slot 1 (the next after s7), s9 to slot 2, s10 to slot 0.
    kill -STOP "$w1"
    STOPPED+=("$w1")
    printf 's%d\n' 8 9 10 >"$IN"
    run send <"$IN"
    [ "$output" = "$(oks 3)" ]
    wait_for "s9 to be received" was_received s9
    wait_for "s10 to be received" was_received s10
    status_of "$SERVER_PID"
    [ "$(last_status_line 0)" = "master[$SERVER_PID]: status: slot 0, worker $w0, 4 dispatched, 0 queued, 0 restarts" ]
    [ "$(last_status_line 1)" = "master[$SERVER_PID]: status: slot 1, worker $w1, 3 dispatched, 1 queued, 0 restarts" ]
    [ "$(last_status_line 2)" = "master[$SERVER_PID]: status: slot 2, worker $w2, 3 dispatched, 0 queued, 0 restarts" ]
    [ "$(last_summary_line)" = "master[$SERVER_PID]: status: 3 workers, 10 dispatched, 0 dropped, 0 connections" ]
    ! was_received s8 || false

    kill -CONT "$w1"
    wait_for "s8 to be received" was_received s8
    [ "$(receivers s8)" = "$w1" ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ ! -s "$ERR" ] # nothing on standard error, no sanitizer report
}

# leftovers_gone - true once none of the workers in ORPHANS runs and no
# queue made during the test is left.
leftovers_gone() {
    local pid
    for pid in "${ORPHANS[@]}"; do
        not_running "$pid" || return 1
    done
    [ -z "$(new_queues)" ]
}

# bats test_tags=master-death
@test "master killed with SIGKILL: its workers handle what is queued, remove their queues and exit within 2 s" {
    serve --work-ms 50
    mapfile -t ORPHANS < <(children_of "$SERVER_PID")
    [ "${#ORPHANS[@]}" -eq 3 ]
    [ "$(new_queues | wc -l)" -eq 3 ]
    printf 'k%d\n' 1 2 3 4 5 6 7 8 9 >"$IN"
    run send <"$IN"
    [ "$output" = "$(oks 9)" ]

    kill -KILL "$SERVER_PID"
    DEADLINE=2 wait_for "the workers and their queues to go" leftovers_gone
    [ "$(log_count "worker\\[[0-9]+\\]: master is gone; removing queue and leaving")" -eq 3 ]
    # What was acknowledged was handled, each message once.
    [ "$(received_count)" -eq 9 ]
    all_of_file_received "$IN"
    for pid in "${ORPHANS[@]}"; do
        log_has "worker\\[$pid\\]: exited"
    done
    [ ! -s "$ERR" ]
}

# started_after_delay SLOT N - the master has logged N delayed starts of a
# worker in SLOT.
started_after_delay() {
    [ "$(log_count "master\\[$SERVER_PID\\]: slot $1: started worker [0-9]+ \\(restart [0-9]+\\)")" -ge "$2" ]
}

# bats test_tags=master-death
@test "master killed while a slot waits for a restart: a surviving worker removes that queue too" {
    local victim line slot= delay=0 delayed=0
    serve -w 2
    mapfile -t ORPHANS < <(children_of "$SERVER_PID")
    [ "${#ORPHANS[@]}" -eq 2 ]
    # Kill one worker, then each successor, until the master waits 1.6 s or
    # more before the next restart (it doubles the delay after each worker
    # that died young): time enough, on a busy machine too, to kill the
    # master in that gap. A worker that lived over 2 s first (a slow
    # start) is replaced at once: its successor is young.
    victim=${ORPHANS[1]}
    while [ "$delay" -lt 1600 ]; do
        kill -KILL "$victim"
        wait_for "the master to reap worker $victim" \
            log_has "master\\[$SERVER_PID\\]: (worker $victim \\(slot [01]\\) died .*|restarted slot [01]: worker $victim replaced by .*)"
        line=$(grep -E "^master\\[$SERVER_PID\\]: (worker $victim \\(slot|restarted slot [01]: worker $victim )" "$OUT")
        if [[ "$line" =~ \(slot\ ([01])\)\ died\ [0-9]+\ ms\ after\ start\;\ restarting\ in\ ([0-9]+)\ ms ]]; then
            slot=${BASH_REMATCH[1]} delay=${BASH_REMATCH[2]}
            if [ "$delay" -ge 1600 ]; then break; fi
            delayed=$((delayed + 1))
            wait_for "worker $victim's successor" started_after_delay "$slot" "$delayed"
            victim=$(sed -n "s/^master\\[$SERVER_PID\\]: slot $slot: started worker \\([0-9]*\\) (restart .*/\\1/p" "$OUT" | tail -1)
        else
            victim=${line##* }
        fi
        ORPHANS+=("$victim")
    done
    kill -KILL "$SERVER_PID"
    DEADLINE=2 wait_for "the workers and their queues to go" leftovers_gone
    log_has "worker\\[${ORPHANS[0]}\\]: removed the queue of slot $slot, which had no worker"
}

# bats test_tags=master-death
@test "SIGHUP to a worker is not its master's death: it keeps its queue and works on" {
    serve -w 2
    mapfile -t ORPHANS < <(children_of "$SERVER_PID")
    kill -HUP "${ORPHANS[0]}" "${ORPHANS[1]}"
    printf 'h%d\n' 1 2 3 4 >"$IN"
    run send <"$IN"
    [ "$output" = "$(oks 4)" ]
    wait_for "4 messages to be received" all_of_file_received "$IN"
    [ "$(new_queues | wc -l)" -eq 2 ]
    ! log_has ".*master is gone.*" || false
    running "${ORPHANS[0]}"
    running "${ORPHANS[1]}"
}

# pid_in FILE - the pid FILE holds.
pid_in() {
    tr -d '\n' <"$1"
}

# ppid_of PID / sid_of PID - the parent and the session of PID.
ppid_of() {
    awk '$1 == "PPid:" { print $2 }' "/proc/$1/status"
}

sid_of() {
    # Field 6 of /proc/PID/stat; the command name before it is in
    # parentheses and may hold spaces, so count from the last ')'.
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $4 }'
}

# bats test_tags=daemon
@test "daemon: -d returns once it accepts; pidfile; a second start is refused; SIGTERM stops and cleans up" {
    pidfile=$BATS_TEST_TMPDIR/server.pid
    log=$BATS_TEST_TMPDIR/server.log
    PIDFILES+=("$pidfile")
    # Not through `run`: its $(...) would wait until the daemon closes
    # standard output, which would hide a start that returns too early.
    # 3>&-: the daemon must not hold the descriptor bats reads.
    start=0
    "$STAGE/server" -d -s "$SOCK" -p "$pidfile" -l "$log" \
        >"$OUT" 2>"$ERR" 3>&- || start=$?
    # Ready when -d returns: no waiting here.
    [ -S "$SOCK" ]
    [ -f "$pidfile" ]
    run "$STAGE/client" -s "$SOCK" hello
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = 'client: received "OK"' ]
    [ "$start" -eq 0 ]
    [ ! -s "$OUT" ]
    [ ! -s "$ERR" ]

    daemon=$(pid_in "$pidfile")
    DAEMONS+=("$daemon")
    own_pid "$daemon" # its queues are this test's
    [[ "$daemon" =~ ^[0-9]+$ ]]
    running "$daemon"
    is_server "$daemon"
    [ "$(ppid_of "$daemon")" != "$$" ]
    [ "$(ppid_of "$daemon")" != "$BASHPID" ]
    [ "$(sid_of "$daemon")" != "$(sid_of "$BASHPID")" ]
    grep -q -x "master\\[$daemon\\]: started" "$log"
    wait_for "hello in the log" grep -q -x 'worker\[[0-9]*\]: received "hello"' "$log"
    mapfile -t workers < <(children_of "$daemon")
    [ "${#workers[@]}" -eq 3 ]
    # Standard streams on /dev/null, and not the terminal's or ours.
    for fd in 0 1 2; do
        [ "$(readlink "/proc/$daemon/fd/$fd")" = /dev/null ]
    done

    # A second start with the same pidfile is refused, with a reason.
    run "$STAGE/server" -d -s "$BATS_TEST_TMPDIR/other.sock" -p "$pidfile" \
        -l "$BATS_TEST_TMPDIR/other.log" 3>&-
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == "server: "*"$pidfile"* ]]
    [ ! -e "$BATS_TEST_TMPDIR/other.sock" ]
    [ "$(pid_in "$pidfile")" = "$daemon" ]
    running "$daemon"

    kill -TERM "$(pid_in "$pidfile")"
    wait_for "the daemon to exit" not_running "$daemon"
    for pid in "${workers[@]}"; do
        wait_for "worker $pid to exit" not_running "$pid"
    done
    [ ! -e "$pidfile" ]
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
    grep -q -x "master\\[$daemon\\]: stopping on SIGTERM" "$log"
    grep -q -x "master\\[$daemon\\]: event loop stopped" "$log"
    grep -q -x "master\\[$daemon\\]: exited" "$log"
    for pid in "${workers[@]}"; do
        grep -q -x "worker\\[$pid\\]: exited" "$log"
    done
}

# bats test_tags=daemon
@test "daemon with relative paths: socket, pidfile and log keep working after it leaves the directory" {
    cd "$BATS_TEST_TMPDIR"
    PIDFILES+=("$BATS_TEST_TMPDIR/m.pid")
    start=0
    "$STAGE/server" -d -s m.sock -p m.pid -l m.log >"$OUT" 2>"$ERR" 3>&- ||
        start=$?
    [ "$start" -eq 0 ]
    [ ! -s "$ERR" ]
    daemon=$(pid_in m.pid)
    DAEMONS+=("$daemon")
    own_pid "$daemon" # its queues are this test's
    [ "$(readlink "/proc/$daemon/cwd")" = / ]
    [ -S m.sock ]
    run "$STAGE/client" -s m.sock one two
    [ "$status" -eq 0 ]
    wait_for "two in the log" grep -q -x 'worker\[[0-9]*\]: received "two"' m.log
    grep -q -x 'worker\[[0-9]*\]: received "one"' m.log

    kill -TERM "$daemon"
    wait_for "the daemon to exit" not_running "$daemon"
    [ ! -e m.pid ]
    [ ! -e m.sock ]
    [ -z "$(new_queues)" ]
    grep -q -x "master\\[$daemon\\]: exited" m.log
}
