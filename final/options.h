/* options.h - final: the server's command line (SPEC section 2).
 *
 * parse_options() only reads argv: it opens nothing and creates nothing, so
 * a bad option is refused before any queue or file exists, and the parser
 * can be tested alone (tests/unit/test_options.c).
 */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#define WORKERS_DEFAULT     3
#define WORKERS_MAX         64
#define SOCKET_PATH_DEFAULT "master.sock"

struct options {
    int workers;             /* -w: 1..WORKERS_MAX */
    const char *socket_path; /* -s: fits in sun_path */
    bool daemon;             /* -d */
    const char *pidfile;     /* -p, or NULL */
    const char *log_path;    /* -l, or NULL: standard output */
    unsigned timeout_secs;   /* -t: 0 = never */
    unsigned work_ms;        /* --work-ms */
    const char *crash_on;    /* --crash-on, or NULL (see worker.h) */
};

enum parse_result {
    PARSE_OK,   /* run the server */
    PARSE_HELP, /* usage printed on OUT: exit 0 */
    PARSE_BAD   /* reason and usage printed on ERR: exit 2 */
};

/* Fills OPT from ARGV. Prints the usage on OUT for --help, and the reason
 * and the usage on ERR for a bad command line. */
enum parse_result parse_options(int argc, char *argv[], struct options *opt,
                                FILE *out, FILE *err);

void print_usage(FILE *out);

#endif
