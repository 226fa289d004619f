#!/usr/bin/env bats
# The exercises' tests (tests/exercises/*.bats, run by `make exercise
# STEP=N`) describe code the reader is to write. Two checks here keep them
# fair:
#
# - Against the chapters as shipped, every one of them fails: they test
#   something, and no solution is shipped in their place.
# - Each wrong answer in tests/exercises/wrong/ (a patch to its chapter,
#   with a first line that says which exercise it answers and what is
#   wrong) is rejected: applied to a copy of the chapter, it builds, and the
#   tests of its exercise fail on it.
#
# That each test passes on a correct solution was seen when it was
# written, on copies kept outside the repository (no solution is shipped).

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

# rejected NAME - applies tests/exercises/wrong/NAME.patch to a copy of its
# chapter, builds the copy, runs the tests of its exercise against it, and
# checks that they ran and that at least one failed. NAME is
# CHAPTER-exN-what: step1-ex3-... is exercise 3 of step1-fork.
rejected() {
    local patch=$REPO/tests/exercises/wrong/$1.patch
    local chapter=${1%%-ex*} rest=${1#*-ex} dir copy=$BATS_TEST_TMPDIR/copy
    local exercise=${rest%%-*}
    [ -f "$patch" ]
    # Its first line says which exercise it answers, and it is that one.
    [[ $(head -n 1 "$patch") == "Wrong answer to $chapter exercise $exercise: "* ]]
    if [ "$chapter" = final ]; then
        dir=$REPO/final
    else
        dir=$(echo "$REPO/$chapter"-*)
    fi
    [ -d "$dir" ]
    cp -R "$dir" "$copy"
    make -s -C "$copy" clean >/dev/null
    # A patch that no longer applies: the chapter changed under it. Make
    # the same mistake in the new code and write the patch again.
    patch -s -p1 -d "$copy" <"$patch"
    make -s -C "$copy" >&2
    # The default deadline: a wrong answer must fail on what it does, not
    # on a deadline shorter than a correct one needs.
    STAGE=$copy run bats --tap --filter "^exercise $exercise: " \
        "$REPO/tests/exercises/$chapter.bats" </dev/null
    echo "$output"
    [ "$(grep -c '^not ok ' <<<"$output")" -ge 1 ]
    [ "$status" -ne 0 ]
}

@test "every wrong answer kept in tests/exercises/wrong is checked here" {
    local patch name
    for patch in "$REPO"/tests/exercises/wrong/*.patch; do
        name=$(basename "$patch" .patch)
        grep -q -F "rejected $name" "$BATS_TEST_FILENAME"
    done
}

@test "step1 exercise 1: a parent asked for at start-up is rejected" {
    rejected step1-ex1-parent-asked-at-start
}

@test "step1 exercise 2: the first two slots ending differently are rejected" {
    rejected step1-ex2-first-two-slots
}

@test "step1 exercise 3: reap_all() after a sleep is rejected" {
    rejected step1-ex3-sleep-then-reap-all
}

@test "step2 exercise 3: IPC_SET without IPC_STAT is rejected" {
    rejected step2-ex3-set-without-stat
}

@test "step2 exercise 5: a shared queue removed once per slot is rejected" {
    rejected step2-ex5-removed-once-per-slot
}

@test "step3 exercise 4: a master that reads until end of file is rejected" {
    rejected step3-ex4-read-until-eof
}

@test "step4 exercise 1: a message checked after connecting is rejected" {
    rejected step4-ex1-checked-after-connecting
}

@test "step4 exercise 4: a timeout on the whole server's silence is rejected" {
    rejected step4-ex4-whole-server-quiet
}

@test "step5 exercise 4: a stop deadline counted from the start is rejected" {
    rejected step5-ex4-deadline-from-start
}

@test "step5 exercise 4: a stop deadline that sends no SIGCONT is rejected" {
    rejected step5-ex4-sigterm-without-sigcont
}
