#!/usr/bin/env bats
# bench.bats - keeps the benchmark harness working: a short run of
# tests/bench/run (BENCH_QUICK=1) must print its table and clean up. It
# asserts nothing about speed; `make bench` is where speed is measured.
load helpers

setup_file() {
    make -s -C "$REPO" all >&2
}

setup() {
    common_setup
}

teardown() {
    common_teardown
}

@test "bench: a quick run prints a row per stage and mode, and cleans up" {
    BENCH_QUICK=1 run "$REPO/tests/bench/run"
    echo "$output"
    # Whether a stage comes out above the ceiling is a matter of speed:
    # on a busy machine a stage near it may, by chance, in a run this
    # short. The bench then says so and exits 1 (the next test checks
    # that); here it must only have finished its table.
    if [ "$status" -ne 0 ]; then
        [ "$status" -eq 1 ]
        [[ "$output" == *"came out above the ceiling"* ]]
    fi
    [[ "$output" == *"ceiling (3 queues and workers, no socket):"* ]]
    [[ "$output" =~ ceiling.*spread\ [0-9]+\.\.[0-9]+\ over\ [0-9]+\ runs ]]
    [[ "$output" =~ step3-unix-socket\ +conn ]]
    [[ "$output" =~ step4-select-loop\ +pipe ]]
    [[ "$output" =~ final\ +pipe\ +1000 ]]
    [[ "$output" =~ final\ +pipe\ +4\ .*\ [0-9]+\.\.[0-9]+ ]]
    [[ "$output" =~ final\ pool,\ pipe\ mode.*:\ [0-9.]+\ of\ the\ ceiling ]]
    [[ "$output" == *"idle connections: master peak RSS"* ]]
    [ -z "$(new_queues)" ]
}

@test "bench: a stage above the ceiling is an error, not a ratio over 1" {
    # A ceiling program that claims 1 message a second: every stage beats it.
    cat >"$BATS_TEST_TMPDIR/ceiling" <<'SH'
#!/bin/sh
echo "ceiling workers=3 msgs=1 mode=block secs=1.000 rate=1" >&2
SH
    chmod +x "$BATS_TEST_TMPDIR/ceiling"
    BENCH_QUICK=1 BENCH_CEILING="$BATS_TEST_TMPDIR/ceiling" run "$REPO/tests/bench/run"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ "$output" == *"bench: error: final pipe 4 came out above the ceiling"* ]]
    [ -z "$(new_queues)" ]
}
