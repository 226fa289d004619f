#!/usr/bin/env bats
# The chapters' examples: every ```console block of every page is typed by
# tests/docs-run into real terminals, as a reader would type it, and what
# they show must be what the page shows. Also the runner itself: a page
# that shows the wrong output must fail. And final/SPEC.md, the contract:
# it is the recorded one, and every link of a page leads to a file the
# reader has.
#
#   bats tests/docs.bats
#   tests/docs-run step3-unix-socket/README.md    (one chapter, with a diff)

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

docs_run() {
    run "$REPO/tests/docs-run" "$@"
    echo "$output"
}

@test "README.md: the examples print what the page shows" {
    docs_run "$REPO/README.md"
    [ "$status" -eq 0 ]
}

@test "chapter 1 (step1-fork): the examples print what the page shows" {
    docs_run "$REPO/step1-fork/README.md"
    [ "$status" -eq 0 ]
}

@test "chapter 2 (step2-msgqueue): the examples print what the page shows" {
    docs_run "$REPO/step2-msgqueue/README.md"
    [ "$status" -eq 0 ]
}

@test "chapter 3 (step3-unix-socket): the examples print what the page shows" {
    docs_run "$REPO/step3-unix-socket/README.md"
    [ "$status" -eq 0 ]
}

@test "chapter 3, part 2 (step3-unix-socket/FAULTS.md): the examples print what the page shows" {
    docs_run "$REPO/step3-unix-socket/FAULTS.md"
    [ "$status" -eq 0 ]
}

@test "chapter 4 (step4-select-loop): the examples print what the page shows" {
    docs_run "$REPO/step4-select-loop/README.md"
    [ "$status" -eq 0 ]
}

@test "chapter 5 (step5-signals): the examples print what the page shows" {
    docs_run "$REPO/step5-signals/README.md"
    [ "$status" -eq 0 ]
}

@test "the final pool (final): the examples print what the page shows" {
    docs_run "$REPO/final/README.md"
    [ "$status" -eq 0 ]
}

@test "the tests (tests): the examples print what the page shows" {
    docs_run "$REPO/tests/README.md"
    [ "$status" -eq 0 ]
}

# The runner must be able to fail: the same chapter, with one line of shown
# output changed, kept outside the repository and run in the chapter's
# directory.
@test "docs-run fails when a README shows output the program does not print" {
    sed '0,/^client: received "OK"$/s//client: received "BUSY"/' \
        "$REPO/step3-unix-socket/README.md" >"$BATS_TEST_TMPDIR/README.md"
    ! cmp -s "$REPO/step3-unix-socket/README.md" "$BATS_TEST_TMPDIR/README.md" || false
    docs_run "$BATS_TEST_TMPDIR/README.md" step3-unix-socket
    [ "$status" -eq 1 ]
    [[ $output == *'-client: received "BUSY"'* ]]
    [[ $output == *'+client: received "OK"'* ]]
}

@test "docs-run fails when a program prints more than the README shows" {
    printf '```console\n$ printf "a\\nb\\n"\na\nb\n```\n' >"$BATS_TEST_TMPDIR/README.md"
    docs_run "$BATS_TEST_TMPDIR/README.md" step1-fork
    [ "$status" -eq 0 ]
    printf '```console\n$ printf "a\\nb\\n"\na\n```\n' >"$BATS_TEST_TMPDIR/README.md"
    docs_run "$BATS_TEST_TMPDIR/README.md" step1-fork
    [ "$status" -eq 1 ]
    [[ $output == *"terminal 1 printed more than the README shows"* ]]
}

@test "docs-run fails on a README with no console block, or an unknown directive" {
    printf '# nothing to run\n' >"$BATS_TEST_TMPDIR/README.md"
    docs_run "$BATS_TEST_TMPDIR/README.md" step3-unix-socket
    [ "$status" -eq 1 ]
    printf '<!-- docs: terminal two -->\n```console\n$ true\n```\n' >"$BATS_TEST_TMPDIR/README.md"
    docs_run "$BATS_TEST_TMPDIR/README.md" step3-unix-socket
    [ "$status" -eq 1 ]
    [[ $output == *"unknown docs directive 'terminal two'"* ]]
}

@test "docs-run: ^C stops the command in its terminal, and a later block sees its status" {
    cat >"$BATS_TEST_TMPDIR/README.md" <<'EOF'
```console
$ sleep 600
```
<!-- docs: terminal 2 -->
```console
$ echo other terminal
other terminal
```
```console
^C
$ echo $?
130
```
EOF
    docs_run "$BATS_TEST_TMPDIR/README.md" step1-fork
    [ "$status" -eq 0 ]
}

# A page is typed into an interactive shell on a terminal, as a reader
# types it: the terminal echoes Ctrl-C, bash drops the rest of a command
# line whose job died of SIGINT (no "after"), numbers the jobs started
# with "&" and says when they are done, asks for the rest of a continued
# line with "> ", and a command's standard input is the terminal.
@test "docs-run: the commands run in an interactive shell, on a terminal" {
    cat >"$BATS_TEST_TMPDIR/README.md" <<'EOF2'
```console
$ sleep 600; echo after
^C
$ sleep 0.1 & wait
[1] 4242
[1]+  Done                    sleep 0.1
$ echo one \
> two
one two
$ [ -t 0 ] && tty | sed 's/[0-9]*$/N/'
/dev/pts/N
```
EOF2
    docs_run "$BATS_TEST_TMPDIR/README.md" step1-fork
    [ "$status" -eq 0 ]
}

@test "docs-run fails when the examples leave a file behind that git does not ignore" {
    printf '```console\n$ mkfifo input; touch run.log\n```\n' >"$BATS_TEST_TMPDIR/README.md"
    docs_run "$BATS_TEST_TMPDIR/README.md" step2-msgqueue
    [ "$status" -eq 1 ]
    [[ $output == *"leave behind what git does not ignore"* ]]
    [[ $output == *"+step2-msgqueue/input"* ]]
    [[ $output != *"run.log"* ]]
    printf '```console\n$ mkfifo input; touch run.log\n$ rm input\n```\n' >"$BATS_TEST_TMPDIR/README.md"
    docs_run "$BATS_TEST_TMPDIR/README.md" step2-msgqueue
    [ "$status" -eq 0 ]
}

# target_procs DIR - the pids of the processes a stage's target started that
# still run: those that carry the test's mark (tagged) and run one of the
# stage's programs, or strace or nc, which the targets start. Not every
# process whose working directory is DIR: a reader's shell sits there, as
# the pages tell them, and may have a server of theirs running; neither is
# the target's. (The exe filter also leaves out this loop's own commands,
# which carry the mark too.)
target_procs() {
    local top d exe
    top=$(realpath "$1")
    for d in /proc/[0-9]*; do
        exe=$(readlink "$d/exe" 2>/dev/null) || continue
        case $exe in
        "$top"/* | */strace | */nc | */nc.*) ;;
        *) continue ;;
        esac
        if tagged "${d#/proc/}"; then
            basename "$d"
        fi
    done
    return 0
}

# strace_target STAGE - the chapter's "Look inside" target: it runs, shows
# something, and leaves no process, queue or socket file behind.
strace_target() {
    local dir=$REPO/$1 socks_before
    socks_before=$(ls "$dir" | grep '\.sock$' || true)
    # Under `make SAN=1 test` the programs carry AddressSanitizer, whose
    # leak checker cannot work under ptrace and would fail every traced
    # program at exit; the rest of ASan works under strace.
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
        run make -s -C "$dir" strace
    echo "$output"
    [ "$status" -eq 0 ]
    [ -n "$output" ]
    [ -z "$(new_queues)" ]
    [ -z "$(target_procs "$dir")" ]
    [ "$(ls "$dir" | grep '\.sock$' || true)" = "$socks_before" ]
}

@test "make strace-step1: runs, shows the calls, leaves nothing behind" {
    strace_target step1-fork
}

@test "make strace-step2: runs, shows the calls, leaves nothing behind" {
    strace_target step2-msgqueue
}

# The master's last call, as the page shows it: an accept cut short by the
# SIGTERM. The target signals only once the master sleeps there; signalled
# sooner, the master dies before it, and the line is missing.
@test "make strace-step3: runs, shows the calls, leaves nothing behind" {
    local master last

    strace_target step3-unix-socket
    master=${lines[0]%% *}
    last=$(grep "^$master " <<<"$output" | grep -v ' +++ ' | tail -n 1)
    # strace pads the pid with blanks to the width of the largest one.
    [[ $last =~ ^[0-9]+\ +accept\([0-9]+,\ NULL,\ NULL\)\ +=\ \?\ ERESTARTSYS ]]
}

@test "make strace-step4: runs, shows the calls, leaves nothing behind" {
    strace_target step4-select-loop
}

@test "make strace-step5: runs, shows the calls, leaves nothing behind" {
    strace_target step5-signals
}

@test "make strace-final: runs, shows the calls, leaves nothing behind" {
    strace_target final
}

# final/SPEC.md is the pool's contract. It is owned outside the code: the
# code, its tests and the pages follow it, never the other way round. Its
# checksum is recorded here, so that an edit by accident fails; an agreed
# new version of the contract comes with its new checksum.
SPEC_SHA256=c46a0793436251715a039d7e4ff925a0e91e1788430299d03b8ef57fa7c3bc1a

@test "final/SPEC.md is the contract as agreed (its recorded checksum)" {
    local sum
    sum=$(sha256sum "$REPO/final/SPEC.md")
    if [ "${sum%% *}" != "$SPEC_SHA256" ]; then
        echo "final/SPEC.md changed, but the contract is owned outside the code: put it back (git checkout final/SPEC.md), or record an agreed new version's sha256sum as SPEC_SHA256 in tests/docs.bats"
        return 1
    fi
}

# anchors_of PAGE - the anchors a Markdown renderer gives PAGE's headings:
# lower case, blanks as dashes, other punctuation dropped.
anchors_of() {
    sed -n 's/^#\{1,6\} //p' "$1" | tr 'A-Z ' 'a-z-' | tr -cd 'a-z0-9_\n-'
}

# A page may cite only what a reader has: every relative link of every
# page leads to a file inside the repository, and to a heading of it when
# it names one.
@test "every link between the pages leads to a file, and a heading, in the repository" {
    local page link file anchor bad=""
    while IFS= read -r page; do
        while IFS= read -r link; do
            case $link in http://* | https://* | mailto:*) continue ;; esac
            file=${link%%#*} anchor=""
            if [[ $link == *'#'* ]]; then anchor=${link#*#}; fi
            file=$(realpath -m "$(dirname "$page")/${file:-$(basename "$page")}")
            if [[ $file != "$REPO"/* ]] || [ ! -e "$file" ]; then
                bad+="${page#"$REPO"/}: $link"$'\n'
            elif [ -n "$anchor" ] && ! anchors_of "$file" | grep -qx -- "$anchor"; then
                bad+="${page#"$REPO"/}: $link (no such heading)"$'\n'
            fi
        done < <(grep -o '](\([^)]*\))' "$page" | sed 's/^](//; s/)$//')
    done < <(find "$REPO" -name '*.md' -not -path '*/.git/*' -not -path '*/build/*')
    printf '%s' "$bad"
    [ -z "$bad" ]
}
