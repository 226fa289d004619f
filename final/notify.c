/* notify.c - final: systemd's readiness protocol, with libc alone (SPEC 8).
 * Owns: the NOTIFY_SOCKET address and the datagrams sent to it (notify.h).
 * Not in the chapters: a pool run by hand needs none of it. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

static struct sockaddr_un addr;
static socklen_t addr_len; /* 0: NOTIFY_SOCKET was not set, or not usable */
static char name[sizeof addr.sun_path + 1]; /* as given, for the log */
static bool warned;

void notify_init(void)
{
    const char *value = getenv("NOTIFY_SOCKET");
    size_t len;

    if (value == NULL)
        return;
    len = strlen(value);
    /* systemd gives an absolute path or "@name"; a relative path would
     * name another file once a daemon has moved to "/". */
    if ((value[0] != '/' && value[0] != '@') || len < 2 ||
        len >= sizeof addr.sun_path) {
        log_warnx("NOTIFY_SOCKET '%s': not an absolute path or @name that "
                  "fits a socket address; not notifying",
                  value);
    } else {
        memcpy(name, value, len + 1);
        memset(&addr, 0, sizeof addr);
        addr.sun_family = AF_UNIX;
        memcpy(addr.sun_path, value, len);
        /* An abstract name starts with a NUL byte and is exactly as long
         * as the address length says: no terminating NUL is counted. */
        if (value[0] == '@') {
            addr.sun_path[0] = '\0';
            addr_len =
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
        } else {
            addr_len =
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
        }
    }
    if (unsetenv("NOTIFY_SOCKET") == -1)
        log_warn("unsetenv NOTIFY_SOCKET");
}

/* Logs the first failure only: a manager that went away would otherwise
 * add a line to every reload and scaling. */
static void warn_once(const char *what)
{
    if (!warned)
        log_warn("NOTIFY_SOCKET %s: %s", name, what);
    warned = true;
}

/* Sends TEXT as one datagram. A socket of its own each time, as
 * sd_notify(3) does: no descriptor stays open for a worker to inherit.
 * MSG_DONTWAIT: a manager that does not read must never stall the master
 * (a full receive queue gives EAGAIN, a lost message, not a wait).
 * MSG_NOSIGNAL: no SIGPIPE, whatever the peer does. */
static void send_text(const char *text)
{
    ssize_t sent;
    int fd;

    if (addr_len == 0)
        return;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        warn_once("socket");
        return;
    }
    do {
        sent = sendto(fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL,
                      (const struct sockaddr *)&addr, addr_len);
    } while (sent == -1 && errno == EINTR);
    if (sent == -1)
        warn_once("sendto");
    if (close(fd) == -1)
        warn_once("close");
}

/* Each datagram ends with a newline: systemd splits it into lines and
 * ignores an empty last one, and a reader's `socat` shows one message a
 * line. */
static void send_state(const char *state, const char *status_prefix,
                       int workers)
{
    char text[160];

    snprintf(text, sizeof text, "%sSTATUS=%s%d worker%s\n", state,
             status_prefix, workers, workers == 1 ? "" : "s");
    send_text(text);
}

void notify_ready(int workers)
{
    send_state("READY=1\n", "", workers);
}

void notify_reloading(int workers)
{
    struct timespec now;
    char state[80];

    /* MONOTONIC_USEC: when the reload began, by the clock the manager
     * keeps too, so that it can tell this reload cycle from another
     * (sd_notify(3); Type=notify-reload requires it). */
    if (clock_gettime(CLOCK_MONOTONIC, &now) == -1) {
        log_warn("clock_gettime");
        snprintf(state, sizeof state, "RELOADING=1\n");
    } else {
        snprintf(
            state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\n",
            (uint64_t)now.tv_sec * 1000000U + (uint64_t)now.tv_nsec / 1000U);
    }
    send_state(state, "reloading ", workers);
}

void notify_stopping(void)
{
    send_text("STOPPING=1\nSTATUS=stopping: the workers finish their "
              "queues\n");
}

void notify_status(int workers)
{
    send_state("", "", workers);
}
