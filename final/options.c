/* options.c - final: parses the server's command line with getopt_long(3).
 * Owns: option names, defaults, ranges and the usage text (SPEC 2). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "options.h"

/* Long options without a short form get codes above any character.
 * --crash-on is a teaching aid (final/README.md, "At least once"): it is
 * left out of the usage, which stays the one SPEC.md gives. */
enum { OPT_WORK_MS = UCHAR_MAX + 1, OPT_CRASH_ON };

void print_usage(FILE *out)
{
    fprintf(out,
            "usage: server [options]\n"
            "  -w, --workers N      worker count, 1..%d (default %d)\n"
            "  -s, --socket PATH    socket path (default: %s in the current "
            "directory)\n"
            "  -d, --daemon         detach from the terminal (log goes to "
            "--log, else is discarded)\n"
            "  -p, --pidfile PATH   write the master's pid there; refuse to "
            "start if a live master holds it\n"
            "  -l, --log PATH       append log lines to PATH instead of "
            "standard output\n"
            "  -t, --timeout SECS   replace a worker stuck on one message "
            "longer than SECS (0: never; default 0)\n"
            "      --work-ms MS     simulated work per message, in "
            "milliseconds (default 0)\n"
            "  -h, --help           usage on standard output, exit 0\n",
            WORKERS_MAX, WORKERS_DEFAULT, SOCKET_PATH_DEFAULT);
}

/* What each signal to the master does (SPEC 5), after the usage of
 * --help only: a usage error stays the usage text alone. */
static void print_signals(FILE *out)
{
    fputs("signals to the master:\n"
          "  SIGINT, SIGTERM      graceful stop: no new clients, every queued "
          "message handled, exit 0\n"
          "  (the same again)     during a stop: stop at once, terminating "
          "the workers\n"
          "  SIGHUP               reload: replace every worker, one slot at "
          "a time\n"
          "  SIGUSR1              log one status line per slot, and a "
          "summary\n"
          "  SIGTTIN, SIGTTOU     one more / one fewer worker (never fewer "
          "than 1)\n",
          out);
}

/* Reads a decimal number in MIN..MAX: digits only, no sign, no spaces.
 * Returns 0, or -1 if S is not one. */
static int parse_number(const char *s, unsigned long min, unsigned long max,
                        unsigned long *value)
{
    char *end;

    if (*s < '0' || *s > '9') /* strtoul() would accept " 1", "+1", "-1" */
        return -1;
    errno = 0;
    *value = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || *value < min || *value > max)
        return -1;
    return 0;
}

/* Checks the value of one option and stores it. Returns 0, or -1 after
 * printing the reason on ERR. */
static int set_option(struct options *opt, int code, const char *arg, FILE *err)
{
    unsigned long n;

    switch (code) {
    case 'w':
        if (parse_number(arg, 1, WORKERS_MAX, &n) == -1) {
            fprintf(err, "server: bad worker count '%s' (1..%d)\n", arg,
                    WORKERS_MAX);
            return -1;
        }
        opt->workers = (int)n;
        return 0;
    case 's': {
        struct sockaddr_un addr;

        /* sun_path is a fixed array: a longer path would be cut short and
         * the server would listen somewhere else than asked. */
        if (arg[0] == '\0' || strlen(arg) >= sizeof addr.sun_path) {
            fprintf(err, "server: bad socket path '%s' (1..%zu bytes)\n", arg,
                    sizeof addr.sun_path - 1);
            return -1;
        }
        opt->socket_path = arg;
        return 0;
    }
    case OPT_CRASH_ON:
        opt->crash_on = arg;
        return 0;
    case 'p':
    case 'l':
        if (arg[0] == '\0') {
            fprintf(err, "server: empty path for -%c\n", code);
            return -1;
        }
        if (code == 'p')
            opt->pidfile = arg;
        else
            opt->log_path = arg;
        return 0;
    case 't':
    case OPT_WORK_MS:
        if (parse_number(arg, 0, code == 't' ? 86400 : 60000, &n) == -1) {
            fprintf(err, "server: bad %s '%s'\n",
                    code == 't' ? "timeout" : "work time", arg);
            return -1;
        }
        if (code == 't')
            opt->timeout_secs = (unsigned)n;
        else
            opt->work_ms = (unsigned)n;
        return 0;
    }
    return -1;
}

enum parse_result parse_options(int argc, char *argv[], struct options *opt,
                                FILE *out, FILE *err)
{
    static const struct option longopts[] = {
        {"workers", required_argument, NULL, 'w'},
        {"socket", required_argument, NULL, 's'},
        {"daemon", no_argument, NULL, 'd'},
        {"pidfile", required_argument, NULL, 'p'},
        {"log", required_argument, NULL, 'l'},
        {"timeout", required_argument, NULL, 't'},
        {"work-ms", required_argument, NULL, OPT_WORK_MS},
        {"crash-on", required_argument, NULL, OPT_CRASH_ON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int code;

    *opt = (struct options){
        .workers = WORKERS_DEFAULT,
        .socket_path = SOCKET_PATH_DEFAULT,
    };
    /* Start afresh: the tests call this many times. With glibc, 0 (not 1)
     * also forgets a half-read cluster such as "-xy" from the last call. */
    optind = 0;
    opterr = 0; /* we print our own message, on ERR */
    while ((code = getopt_long(argc, argv, ":w:s:dp:l:t:h", longopts, NULL)) !=
           -1) {
        switch (code) {
        case 'd':
            opt->daemon = true;
            break;
        case 'h':
            print_usage(out);
            fputc('\n', out);
            print_signals(out);
            return PARSE_HELP;
        case ':': /* the option is the last argument getopt looked at */
            fprintf(err, "server: a value is needed for '%s'\n",
                    argv[optind - 1]);
            print_usage(err);
            return PARSE_BAD;
        case '?': /* optopt: the unknown short option, or 0 for a long one */
            if (optopt != 0)
                fprintf(err, "server: unknown option '-%c'\n", optopt);
            else
                fprintf(err, "server: unknown option '%s'\n", argv[optind - 1]);
            print_usage(err);
            return PARSE_BAD;
        default:
            if (set_option(opt, code, optarg, err) == -1) {
                print_usage(err);
                return PARSE_BAD;
            }
        }
    }
    if (optind < argc) {
        fprintf(err, "server: unexpected argument '%s'\n", argv[optind]);
        print_usage(err);
        return PARSE_BAD;
    }
    return PARSE_OK;
}
