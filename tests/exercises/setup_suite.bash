# setup_suite.bash - the same check of the test tools as ../setup_suite.bash,
# for `bats tests/exercises/stepN.bats`.
# shellcheck source=../setup_suite.bash
source "$(dirname "${BASH_SOURCE[0]}")/../setup_suite.bash"
