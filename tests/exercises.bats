#!/usr/bin/env bats
# The exercises' tests (tests/exercises/*.bats, run by `make exercise
# STEP=N`) describe code the reader is to write, so against the chapters as
# shipped every one of them must fail. That shows they test something, and
# that no solution is shipped in their place. (That each passes on a
# correct solution was seen when it was written, on a copy kept outside the
# repository.)

load helpers

# every_exercise_fails FILE - runs FILE against its chapter as shipped and
# checks that it ran at least one test and that none passed.
every_exercise_fails() {
    local file=$REPO/tests/exercises/$1.bats
    [ -f "$file" ]
    # A short deadline: on the shipped chapter, what the tests wait for
    # (a stuck master's exit, say) never comes, and a failure is expected.
    DEADLINE=5 run bats --tap "$file" </dev/null
    echo "$output"
    [ "$status" -ne 0 ]
    [ "$(grep -c '^not ok ' <<<"$output")" -ge 1 ]
    [ "$(grep -c '^ok ' <<<"$output")" -eq 0 ]
}

@test "chapter 1's exercise tests all fail on chapter 1 as shipped" {
    every_exercise_fails step1
}

@test "chapter 2's exercise tests all fail on chapter 2 as shipped" {
    every_exercise_fails step2
}

@test "chapter 3's exercise tests all fail on chapter 3 as shipped" {
    every_exercise_fails step3
}

@test "chapter 4's exercise tests all fail on chapter 4 as shipped" {
    every_exercise_fails step4
}

@test "chapter 5's exercise tests all fail on chapter 5 as shipped" {
    every_exercise_fails step5
}

@test "the final's exercise tests all fail on the final as shipped" {
    every_exercise_fails final
}
