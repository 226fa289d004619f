# The pool, chapter by chapter. See README.md.
#
#   make               build every stage
#   make step3         build one stage (step1 .. step5, final)
#   make test          get the test tools if needed, build, run every test
#   make demo          run the newest pool with a few clients, then stop it
#   make bench         what each chapter's design costs (tests/bench/run)
#   make mutate [MUTANT=name]
#                      plant each bug of tests/mutants/ in a copy, one at a
#                      time, and check that a test catches it (tests/mutate)
#   make diff-step3    what chapter 3 changes in chapter 2
#   make diff-final [STEP=3]
#                      what the final changes in chapter 5, or only the
#                      final's step 3 (final/steps/, tests/steps)
#   make final-step STEP=3
#                      the final pool as it stands after step 3, built in
#                      final/steps/03-NAME/ (the command names it)
#   make steps-test [STEP=3]
#                      each final step's tests against that step's build
#   make check STEP=3 DIR=path/to/your/copy
#                      chapter 3's tests against your own version of it
#   make exercise STEP=3 [DIR=path/to/your/copy]
#                      the tests of chapter 3's exercises (they fail until
#                      you have solved them; DIR defaults to the chapter)
#   make strace-step3  "Look inside": chapter 3's pool under strace -f
#   make format        apply .clang-format to every C file
#   make format-check  fail if any C file is not formatted
#   make lint          cppcheck and clang-tidy (.clang-tidy) over every stage,
#                      mandoc -T lint over the final pool's manual page
#   make valgrind      the final pool under valgrind: load, reload, stop
#   make chaos         the final pool's promises under random signals, worker
#                      kills and vanishing clients (tests/chaos/run): RUNS=3
#                      runs of DURATION=10 s from SEED=random, or FOR=3600
#                      seconds of runs; STAGE=dir tests another build
#   make fuzz          libFuzzer on the framer, escaper, option parser
#                      (FUZZ_SECONDS=60 each by default; needs clang)
#   make clean
#
# make SAN=1 ... builds with AddressSanitizer and UBSan; make CC=clang ...
# builds with clang. Both reach the stage Makefiles through MAKEFLAGS.

STAGES := step1-fork step2-msgqueue step3-unix-socket step4-select-loop \
          step5-signals final
# Stages not written yet are skipped, not errors.
PRESENT := $(patsubst %/Makefile,%,$(wildcard $(addsuffix /Makefile,$(STAGES))))
SHORT := step1 step2 step3 step4 step5 final

all: $(PRESENT)

$(PRESENT):
	$(MAKE) -C $@

# step3 -> step3-unix-socket, if that stage exists. (final is its own
# directory, built by the rule above.)
stage_of = $(filter $(1)%,$(STAGES))
$(filter-out $(PRESENT),$(SHORT)):
	@if [ -f $(call stage_of,$@)/Makefile ]; then \
	    $(MAKE) -C $(call stage_of,$@); \
	else echo "$@: not written yet, skipped"; fi

test: all
	@tests/ensure-tools
	@tests/run

demo: all
	@tests/demo

# Mutation testing: every mutant must be caught (tests/README.md).
mutate:
	@tests/ensure-tools
	@tests/mutate $(MUTANT)

bench: all
	@tests/bench/run

# Your own copy of a chapter, judged by that chapter's tests. The tests
# find the programs through STAGE; DIR must hold a Makefile that builds
# ./server (and ./client from chapter 3 on).
check:
	@if [ -z "$(STEP)" ] || [ -z "$(DIR)" ]; then \
	    echo "usage: make check STEP=3 DIR=path/to/your/copy"; exit 2; fi
	@tests/ensure-tools
	STAGE=$(abspath $(DIR)) bats tests/$(if $(filter final,$(STEP)),final,step$(STEP)).bats

# The exercises' tests are kept apart from the chapter's own: they describe
# code the reader writes, so they fail on the chapter as shipped.
exercise:
	@if [ -z "$(STEP)" ]; then \
	    echo "usage: make exercise STEP=3 [DIR=path/to/your/copy]"; exit 2; fi
	@tests/ensure-tools
	STAGE=$(abspath $(or $(DIR),$(call stage_of,$(if $(filter final,$(STEP)),final,step$(STEP))))) \
	    bats tests/exercises/$(if $(filter final,$(STEP)),final,step$(STEP)).bats

# strace-step3: run chapter 3's "Look inside" experiment (its Makefile's
# strace target).
strace-step%:
	@$(MAKE) -s -C $(call stage_of,step$*) strace

strace-final:
	@$(MAKE) -s -C final strace

# diff-step3: the chapter's code as a patch against the stage before it
# (the pages left out: each README.md is a whole chapter of its own).
diff-step%:
	@prev=$$(echo $(STAGES) | tr ' ' '\n' | grep -B1 '^step$*-' | head -1); \
	cur=$(call stage_of,step$*); \
	if [ -z "$$cur" ] || [ "$$prev" = "$$cur" ]; then \
	    echo "diff-step$*: no stage before step$*"; exit 2; fi; \
	diff -ru -x '*.[od]' -x server -x client -x stdio-dup -x '*.md' \
	    -x strace.out -x '*.log' -x '*.sock' -x '*.pid' \
	    $$prev $$cur || true

# diff-final: the whole of the final's code change (sources and Makefile,
# as the steps reproduce it; new files in full: -N). With STEP=k, step k's
# patch alone: its description, then its diff.
diff-final:
	@if [ -n "$(STEP)" ]; then tests/steps show $(STEP); else \
	diff -ruN -x '*.[od]' -x server -x client -x '*.md' -x steps \
	    -x strace.out -x '*.log' -x '*.sock' -x '*.pid' \
	    -x server.8 -x pool.service \
	    step5-signals final; fi || [ -z "$(STEP)" ]

final-step:
	@if [ -z "$(STEP)" ]; then echo "usage: make final-step STEP=3"; exit 2; fi
	@tests/steps build $(STEP)

steps-test:
	@tests/ensure-tools
	@tests/steps test $(STEP)

C_FILES = $$(find . -name '*.[ch]' -not -path './.git/*')

format:
	clang-format -i $(C_FILES)

format-check:
	clang-format --dry-run --Werror $(C_FILES)

# Each stage's sources with its own directory for its headers; the final
# pool's manual page too. -W warning: every warning and error, but not the
# STYLE notes, among which "referenced manual not found" depends on what
# manuals the machine has installed, not on the page.
lint:
	mandoc -T lint -W warning final/server.8
	cppcheck --quiet --std=c11 --error-exitcode=1 \
	    --enable=warning,style,performance,portability \
	    --suppress=missingIncludeSystem $(PRESENT)
	@for f in $(wildcard $(addsuffix /*.c,$(PRESENT))); do \
	    clang-tidy --quiet $$f -- -std=c11 -I$$(dirname $$f) \
	        2>/dev/null || { echo "lint: $$f"; exit 1; }; \
	done; echo "clang-tidy: clean"

valgrind:
	@tests/valgrind

fuzz:
	@$(MAKE) -s -C tests/fuzz run

# The options only when given, so that tests/chaos/run keeps its defaults.
chaos:
	@tests/chaos/run $(if $(SEED),--seed $(SEED)) \
	    $(if $(DURATION),--duration $(DURATION)) $(if $(RUNS),--runs $(RUNS)) \
	    $(if $(FOR),--for $(FOR)) $(if $(STAGE),--stage $(abspath $(STAGE)))

clean:
	@for d in $(PRESENT); do $(MAKE) -s -C $$d clean; done
	@$(MAKE) -s -C tests/unit clean
	@$(MAKE) -s -C tests/bench clean
	@$(MAKE) -s -C tests/fuzz clean
	@$(MAKE) -s -C tests/chaos clean
	@rm -rf final/steps/[0-9][0-9]-*/

.PHONY: all test check exercise strace-final demo bench mutate format format-check lint valgrind fuzz chaos clean diff-final final-step steps-test $(PRESENT) $(SHORT)
