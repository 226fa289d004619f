#!/usr/bin/env bats
# steps.bats - the final chapter as a series of steps (final/steps/,
# tests/steps): applied to chapter 5 the patches give final/ byte for byte,
# every step builds warning-free with gcc and clang, a change to final/
# that no step carries is caught, the maintainers' round trip (unpack,
# export) changes nothing, and the make targets the chapter shows work.
# Each step's own tests are run by `make steps-test` (tests/manifest).
#
#   bats tests/steps.bats

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# copy_repo - the parts of the repository the series needs, in $COPY, so
# that a test may change final/ there.
copy_repo() {
    COPY=$BATS_TEST_TMPDIR/repo
    mkdir -p "$COPY/tests" "$COPY/final"
    cp "$REPO/tests/steps" "$COPY/tests/"
    cp -r "$REPO/final/steps" "$COPY/final/"
    rm -rf "$COPY"/final/steps/*/
    cp "$REPO"/final/*.[ch] "$REPO/final/Makefile" "$COPY/final/"
    mkdir "$COPY/step5-signals"
    cp "$REPO"/step5-signals/*.[ch] "$REPO/step5-signals/Makefile" "$COPY/step5-signals/"
}

step_names() {
    (cd "$REPO/final/steps" && ls [0-9][0-9]-*.patch) | sed 's/\.patch$//'
}

@test "the steps give final/ byte for byte, and each builds with gcc and clang, -Werror" {
    run "$REPO/tests/steps" check
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(grep -c '^ok: .* builds with gcc' <<<"$output")" -eq "$(step_names | wc -l)" ]
}

@test "a change to final/ that no step carries fails the check, naming the file" {
    copy_repo
    echo "/* a change */" >>"$COPY/final/pool.c"
    run "$COPY/tests/steps" check
    echo "$output"
    [ "$status" -eq 1 ]
    grep -qx 'differs: final/pool.c' <<<"$output"
}

@test "a file in final/ that no step makes fails the check, wherever it is" {
    copy_repo
    echo "int extra;" >"$COPY/final/extra.inc"
    mkdir "$COPY/final/sub"
    echo "all:" >"$COPY/final/sub/Makefile"
    run "$COPY/tests/steps" check
    [ "$status" -eq 1 ]
    grep -qx 'only in final/: extra.inc' <<<"$output"
    grep -qx 'only in final/: sub/Makefile' <<<"$output"
}

@test "a source in final/ that became executable fails the check" {
    copy_repo
    chmod +x "$COPY/final/pool.c"
    run "$COPY/tests/steps" check
    [ "$status" -eq 1 ]
    grep -qx 'differs: final/pool.c' <<<"$output"
}

@test "export refuses a series in the middle of a rebase: it would cut it there" {
    copy_repo
    "$COPY/tests/steps" unpack "$BATS_TEST_TMPDIR/series"
    (cd "$BATS_TEST_TMPDIR/series" &&
        GIT_SEQUENCE_EDITOR="sed -i '4s/^pick/edit/'" git rebase -q -i --root)
    run "$COPY/tests/steps" export "$BATS_TEST_TMPDIR/series"
    [ "$status" -eq 2 ]
    grep -q 'in the middle of a rebase' <<<"$output"
    [ "$(ls "$COPY"/final/steps/*.patch | wc -l)" -eq "$(step_names | wc -l)" ]
}

@test "unpack then export gives back the same patches and the same final/" {
    copy_repo
    cp -r "$COPY/final" "$BATS_TEST_TMPDIR/before"
    run "$COPY/tests/steps" unpack "$BATS_TEST_TMPDIR/series"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(git -C "$BATS_TEST_TMPDIR/series" rev-list --count HEAD)" -eq "$(($(step_names | wc -l) + 1))" ]
    run "$COPY/tests/steps" export "$BATS_TEST_TMPDIR/series"
    echo "$output"
    [ "$status" -eq 0 ]
    diff -r "$BATS_TEST_TMPDIR/before" "$COPY/final"
}

@test "each patch starts with its own name, and tests/manifest names its tests" {
    local name
    for name in $(step_names); do
        head -1 "$REPO/final/steps/$name.patch" | grep -q "^$name: "
        grep -q "^final/steps/$name " "$REPO/tests/manifest"
    done
}

@test "every step tag on a final test names a step" {
    local tag names
    names=$(step_names | sed 's/^[0-9]*-//')
    for tag in $(sed -n 's/^[[:space:]]*# bats \(test\|file\)_tags=//p' "$REPO"/tests/final*.bats | tr ',' '\n' | sort -u); do
        echo "tag: $tag"
        grep -qx "$tag" <<<"$names"
    done
}

@test "make diff-final STEP=k prints step k's patch; an unknown step is an error" {
    local k=0 name
    for name in $(step_names); do
        k=$((k + 1))
        run make -s -C "$REPO" diff-final STEP=$k
        [ "$status" -eq 0 ]
        [ "$output" = "$(cat "$REPO/final/steps/$name.patch")" ]
    done
    run make -s -C "$REPO" diff-final STEP=$((k + 1))
    [ "$status" -ne 0 ]
    grep -q "no step $((k + 1))" <<<"$output"
}

@test "make diff-final is the whole change, new files included: it turns chapter 5 into final/" {
    copy_repo
    make -s -C "$REPO" diff-final >"$BATS_TEST_TMPDIR/all.diff"
    grep -q '^+++ final/slot.c' "$BATS_TEST_TMPDIR/all.diff"
    patch -s -p1 -d "$COPY/step5-signals" <"$BATS_TEST_TMPDIR/all.diff"
    rm -f "$COPY"/step5-signals/*.orig
    for f in "$COPY"/final/*.[ch] "$COPY/final/Makefile"; do
        cmp "$f" "$COPY/step5-signals/$(basename "$f")"
    done
    [ "$(ls "$COPY/step5-signals" | wc -l)" -eq "$(ls "$COPY"/final/*.[ch] "$COPY/final/Makefile" | wc -l)" ]
}

@test "make final-step STEP=k builds the pool after step k where it says, and it runs" {
    local k last dir
    copy_repo
    cp "$REPO/Makefile" "$COPY/"
    last=$(step_names | wc -l)
    for k in 1 "$last"; do
        run make -s -C "$COPY" final-step STEP=$k
        echo "$output"
        [ "$status" -eq 0 ]
        dir=$COPY/$(sed -n 's/^\(final\/steps\/[0-9][0-9]-[a-z-]*\): the pool after step .*; run \.\/server there$/\1/p' <<<"$output")
        [ -x "$dir/server" ]
        [ -x "$dir/client" ]
        start_server "$dir/server" -s "$SOCK" -w 2
        run "$dir/client" -s "$SOCK" hello
        [ "$status" -eq 0 ]
        stop_server INT
        [ "$EXIT_STATUS" -eq 0 ]
    done
    run make -s -C "$COPY" final-step
    [ "$status" -eq 2 ]
    run make -s -C "$COPY" final-step STEP=abc
    [ "$status" -ne 0 ]
    grep -q "no step 'abc'" <<<"$output"
}

@test "make final-step again keeps a reader's changes to the step's code, and says how to start afresh" {
    copy_repo
    cp "$REPO/Makefile" "$COPY/"
    run make -s -C "$COPY" final-step STEP=2
    [ "$status" -eq 0 ]
    dir=$COPY/$(sed -n 's/: the pool after step .*//p' <<<"$output")
    # Built again unchanged: fine.
    run make -s -C "$COPY" final-step STEP=2
    [ "$status" -eq 0 ]
    echo "/* a reader's experiment */" >>"$dir/pool.c"
    run make -s -C "$COPY" final-step STEP=2
    [ "$status" -ne 0 ]
    grep -q "holds changes of yours: remove it" <<<"$output"
    grep -q "a reader's experiment" "$dir/pool.c"
}
