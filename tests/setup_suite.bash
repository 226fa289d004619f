# setup_suite.bash - bats runs setup_suite once, before the first file of
# this directory (`bats tests`, `bats tests/step3.bats`, tests/run).
#
# Without its tools a bats file does not fail at once: without OpenBSD
# netcat, say, every server test waits out its whole deadline for a
# connection that nc cannot make. So the tools are checked first, and a run
# that lacks one stops here, with one line that names what is missing and
# the command that installs it.
setup_suite() {
    "$(dirname "${BASH_SOURCE[0]}")/ensure-tools" --check
}
