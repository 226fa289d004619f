#!/usr/bin/env bats
# tools.bats - a run without a tool it needs stops at once, with one line
# that names what is missing and the command that installs it, instead of
# every server test waiting out its deadline for a connection (issue: on
# Debian, `nc` is netcat-traditional unless netcat-openbsd is installed).
# tests/ensure-tools --check makes the check; setup_suite.bash runs it
# before any bats file of this directory, and tests/run before anything.

bats_require_minimum_version 1.5.0 # run --separate-stderr

load helpers

setup() {
    common_setup
    BIN=$BATS_TEST_TMPDIR/bin
    mkdir "$BIN"
}

teardown() { common_teardown; }

# traditional_nc - puts in $BIN an nc that answers -h as Debian's
# netcat-traditional does: no -U (Unix sockets), no -N.
traditional_nc() {
    cat >"$BIN/nc" <<'EOF'
#!/bin/sh
cat >&2 <<'USAGE'
[v1.10-47]
connect to somewhere:	nc [-options] hostname port[s] [ports] ...
listen for inbound:	nc -l -p port [-options] [hostname] [port]
options:
	-l			listen mode, for inbound connects
	-u			UDP mode
	-z			zero-I/O mode [used for scanning]
USAGE
exit 1
EOF
    chmod +x "$BIN/nc"
}

# path_without CMD... - a copy of $PATH in $BIN (symbolic links) that lacks
# the commands CMD...; prints it, to be used as PATH.
path_without() {
    local dir cmd
    local -a dirs
    IFS=: read -r -a dirs <<<"$PATH"
    for dir in "${dirs[@]}"; do
        # -n: the first of two commands of one name wins, as in PATH.
        cp -s -n "$dir"/* "$BIN"/ 2>/dev/null || true
    done
    for cmd in "$@"; do
        rm -f "$BIN/$cmd"
    done
    echo "$BIN"
}

@test "nc without -U: ensure-tools --check fails with one line naming netcat-openbsd" {
    traditional_nc
    PATH=$BIN:$PATH run --separate-stderr "$REPO/tests/ensure-tools" --check
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == "the tests need nc with -U and -N (OpenBSD netcat): "*"apt-get install netcat-openbsd" ]]
}

@test "no socat, ss or strace: one line naming the three packages" {
    local path

    path=$(path_without socat ss strace)
    [ -e "$path/nc" ]
    [ ! -e "$path/socat" ]
    [ ! -e "$path/ss" ]
    [ ! -e "$path/strace" ]
    PATH=$path run --separate-stderr "$REPO/tests/ensure-tools" --check
    [ "$status" -eq 1 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *"apt-get install socat iproute2 strace" ]]
    [[ "$stderr" == "the tests need socat, ss, strace: "* ]]
}

@test "every tool here: ensure-tools --check passes, silently" {
    run --separate-stderr "$REPO/tests/ensure-tools" --check
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
}

@test "bats on a file of server tests, nc without -U: no test runs, the one line says why" {
    traditional_nc
    PATH=$BIN:$PATH run bats --tap "$REPO/tests/step3.bats" </dev/null
    echo "$output"
    [ "$status" -ne 0 ]
    # setup_suite failed, and no test ran (none waited for a server).
    [ "$(grep -c '^not ok ' <<<"$output")" -eq 1 ]
    [ "$(grep -c '^ok ' <<<"$output")" -eq 0 ]
    grep -q -x 'not ok 1 setup_suite' <<<"$output"
    grep -q -x '# the tests need nc with -U and -N (OpenBSD netcat): .*apt-get install netcat-openbsd' <<<"$output"
}
