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
    [ "$status" -eq 0 ]
    [[ "$output" == *"ceiling (3 queues and workers, no socket):"* ]]
    [[ "$output" =~ step3-unix-socket\ +conn ]]
    [[ "$output" =~ step4-select-loop\ +pipe ]]
    [[ "$output" =~ final\ +pipe\ +1000 ]]
    [[ "$output" == *"idle connections: master peak RSS"* ]]
    [ -z "$(new_queues)" ]
}
