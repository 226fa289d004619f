/* fuzz_options.c - libFuzzer target for the server's command line
 * (final/options.c): the input, cut at NUL bytes, is the argument list.
 *
 * Properties: the parser never crashes or reads past an argument, and what
 * it accepts is within final/SPEC.md, section 2: 1..64 workers, a socket
 * path that fits in sun_path, no empty pidfile or log path. */
#define _POSIX_C_SOURCE 200809L /* fmemopen() */

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[4096];
    char *argv[32] = {"server"};
    char *copy = malloc(size + 1), *p, *end;
    int argc = 1;
    struct options opt;
    FILE *sink = fmemopen(text, sizeof text, "w");

    assert(copy != NULL && sink != NULL);
    memcpy(copy, data, size);
    copy[size] = '\0';
    /* Each argument its own allocation, so reading past one is caught. */
    for (p = copy, end = copy + size; p <= end && argc < 31; p += strlen(p) + 1)
        argv[argc++] = strdup(p);
    argv[argc] = NULL;
    if (parse_options(argc, argv, &opt, sink, sink) == PARSE_OK) {
        assert(opt.workers >= 1 && opt.workers <= WORKERS_MAX);
        assert(strlen(opt.socket_path) >= 1 && strlen(opt.socket_path) < 108);
        assert(opt.pidfile == NULL || opt.pidfile[0] != '\0');
        assert(opt.log_path == NULL || opt.log_path[0] != '\0');
    }
    fclose(sink);
    for (int i = 1; i < argc; i++)
        free(argv[i]);
    free(copy);
    return 0;
}
