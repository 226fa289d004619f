/* test_options.c - unit tests for the final server's command line
 * (final/options.c; final/SPEC.md, section 2): defaults, every option,
 * and every way to get it wrong. */
#define _POSIX_C_SOURCE 200809L /* fmemopen() */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "options.h"

/* Where the usage and error text go; read back by the tests. */
static char out_text[4096], err_text[4096];

/* Parses the NULL-terminated argument list ARGS (after "server"). */
static enum parse_result parse(struct options *opt, const char **args)
{
    char *argv[16] = {"server"};
    int argc = 1;
    FILE *out, *err;
    enum parse_result r;

    memset(out_text, 0, sizeof out_text); /* empty if nothing is written */
    memset(err_text, 0, sizeof err_text);
    out = fmemopen(out_text, sizeof out_text, "w");
    err = fmemopen(err_text, sizeof err_text, "w");
    assert_non_null(out);
    assert_non_null(err);
    while (*args != NULL)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    r = parse_options(argc, argv, opt, out, err);
    fclose(out);
    fclose(err);
    return r;
}

static void defaults(void **state)
{
    struct options opt;
    const char *args[] = {NULL};

    (void)state;
    assert_int_equal(parse(&opt, args), PARSE_OK);
    assert_int_equal(opt.workers, 3);
    assert_string_equal(opt.socket_path, "master.sock");
    assert_false(opt.daemon);
    assert_null(opt.pidfile);
    assert_null(opt.log_path);
    assert_int_equal(opt.timeout_secs, 0);
    assert_int_equal(opt.work_ms, 0);
}

static void every_short_option(void **state)
{
    struct options opt;
    const char *args[] = {"-w",    "5",  "-s",    "a.sock", "-d", "-p",
                          "x.pid", "-l", "x.log", "-t",     "7",  NULL};

    (void)state;
    assert_int_equal(parse(&opt, args), PARSE_OK);
    assert_int_equal(opt.workers, 5);
    assert_string_equal(opt.socket_path, "a.sock");
    assert_true(opt.daemon);
    assert_string_equal(opt.pidfile, "x.pid");
    assert_string_equal(opt.log_path, "x.log");
    assert_int_equal(opt.timeout_secs, 7);
}

static void every_long_option(void **state)
{
    struct options opt;
    const char *args[] = {
        "--workers=64",    "--socket", "b.sock", "--daemon",
        "--pidfile=y.pid", "--log",    "y.log",  "--timeout=0",
        "--work-ms",       "250",      NULL};

    (void)state;
    assert_int_equal(parse(&opt, args), PARSE_OK);
    assert_int_equal(opt.workers, 64);
    assert_string_equal(opt.socket_path, "b.sock");
    assert_true(opt.daemon);
    assert_string_equal(opt.pidfile, "y.pid");
    assert_string_equal(opt.log_path, "y.log");
    assert_int_equal(opt.timeout_secs, 0);
    assert_int_equal(opt.work_ms, 250);
}

static void help_goes_to_out(void **state)
{
    struct options opt;
    const char *args[] = {"--help", NULL};

    (void)state;
    assert_int_equal(parse(&opt, args), PARSE_HELP);
    assert_non_null(strstr(out_text, "usage: server"));
    assert_string_equal(err_text, "");
}

/* Each bad command line is refused with a reason and the usage on ERR. */
static void expect_bad(const char **args, const char *reason)
{
    struct options opt;

    assert_int_equal(parse(&opt, args), PARSE_BAD);
    assert_non_null(strstr(err_text, reason));
    assert_non_null(strstr(err_text, "usage: server"));
    assert_string_equal(out_text, "");
}

static void bad_worker_counts(void **state)
{
    const char *zero[] = {"-w", "0", NULL};
    const char *too_many[] = {"-w", "65", NULL};
    const char *word[] = {"-w", "abc", NULL};
    const char *empty[] = {"-w", "", NULL};
    const char *negative[] = {"-w", "-1", NULL};
    const char *plus[] = {"-w", "+3", NULL};
    const char *trailing[] = {"-w", "3x", NULL};
    const char *huge[] = {"-w", "99999999999999999999999", NULL};

    (void)state;
    expect_bad(zero, "bad worker count '0'");
    expect_bad(too_many, "bad worker count '65'");
    expect_bad(word, "bad worker count 'abc'");
    expect_bad(empty, "bad worker count ''");
    expect_bad(negative, "bad worker count '-1'");
    expect_bad(plus, "bad worker count '+3'");
    expect_bad(trailing, "bad worker count '3x'");
    expect_bad(huge, "bad worker count");
}

static void socket_path_must_fit(void **state)
{
    char longest[108], too_long[109];
    const char *fits[] = {"-s", longest, NULL};
    const char *bad[] = {"-s", too_long, NULL};
    const char *empty[] = {"-s", "", NULL};
    struct options opt;

    (void)state;
    memset(longest, 'a', sizeof longest - 1); /* 107 bytes and the NUL */
    longest[sizeof longest - 1] = '\0';
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_int_equal(parse(&opt, fits), PARSE_OK);
    expect_bad(bad, "bad socket path");
    expect_bad(empty, "bad socket path");
}

static void bad_numbers_and_missing_values(void **state)
{
    const char *timeout[] = {"-t", "-1", NULL};
    const char *work[] = {"--work-ms", "fast", NULL};
    const char *missing[] = {"-w", NULL};
    const char *missing_long[] = {"--socket", NULL};

    (void)state;
    expect_bad(timeout, "bad timeout '-1'");
    expect_bad(work, "bad work time 'fast'");
    expect_bad(missing, "a value is needed for '-w'");
    expect_bad(missing_long, "a value is needed for '--socket'");
}

static void unknown_options_and_stray_arguments(void **state)
{
    const char *short_opt[] = {"-x", NULL};
    const char *long_opt[] = {"--bogus", NULL};
    const char *stray[] = {"-w", "2", "extra", NULL};

    (void)state;
    expect_bad(short_opt, "unknown option '-x'");
    expect_bad(long_opt, "unknown option '--bogus'");
    expect_bad(stray, "unexpected argument 'extra'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(every_short_option),
        cmocka_unit_test(every_long_option),
        cmocka_unit_test(help_goes_to_out),
        cmocka_unit_test(bad_worker_counts),
        cmocka_unit_test(socket_path_must_fit),
        cmocka_unit_test(bad_numbers_and_missing_values),
        cmocka_unit_test(unknown_options_and_stray_arguments),
    };

    return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
