/* server.c - chapter 2: the master hands messages to its workers through
 * one System V message queue per worker.
 *
 * Usage: ./server [-w N] [MESSAGE...]
 *        N workers, 1..64 (default 3). The messages come from the command
 *        line or, when there are none, from standard input, one per line.
 *
 * The master creates one private queue per worker, then forks the workers.
 * It puts the messages on the queues round-robin: message 1 to worker 0,
 * message 2 to worker 1, and so on. Then it sends each worker an exit
 * message, waits for them all and removes the queues. A worker logs each
 * message it takes from its queue and leaves when it gets the exit message.
 *
 * New here: msgget(2), msgsnd(2), msgrcv(2) and msgctl(2), the message
 * struct with its long mtype, and escape() in util.c, which keeps a message
 * from writing anything but its own log line.
 *
 * Read next: ../step3-unix-socket/server.c takes messages from clients.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* getline() is POSIX 2008; strsignal() too */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define WORKERS_DEFAULT 3
#define WORKERS_MAX     64

/* A System V message: the kernel reads a long, the type, then up to the size
 * given to msgsnd() of bytes. The type must be positive. */
struct message {
    long mtype;
    char mtext[MSG_MAX];
};

/* The two kinds of message. msgrcv() with type 0 takes them in the order
 * they were sent, so an exit message never overtakes the data before it. */
enum { MSG_DATA = 1, MSG_EXIT = 2 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: server [-w N] [MESSAGE...]\n"
            "  -w N      worker count, 1..%d (default %d)\n"
            "  MESSAGE   sent to the workers round-robin; without any,\n"
            "            lines are read from standard input\n",
            WORKERS_MAX, WORKERS_DEFAULT);
}

/* Parses a worker count: digits only, 1..WORKERS_MAX. Returns -1 if bad. */
static int parse_workers(const char *s)
{
    char *end;
    long n;

    if (*s < '0' || *s > '9') /* strtol() would take " 2" and "+2" too */
        return -1;
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > WORKERS_MAX)
        return -1;
    return (int)n;
}

/* Puts LEN bytes of DATA on queue QID as a message of type TYPE. When the
 * queue is full, msgsnd() without IPC_NOWAIT sleeps until a worker makes
 * room. Returns 0, or -1 with errno set. */
static int send_message(int qid, long type, const char *data, size_t len)
{
    struct message msg;

    msg.mtype = type;
    memcpy(msg.mtext, data, len);
    /* The size is that of mtext only, not the whole struct, and only the
     * bytes in use: the kernel copies exactly that many. */
    while (msgsnd(qid, &msg, len, 0) == -1) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* What a worker does: take messages from its queue, oldest first, and log
 * each one until the exit message comes. */
static void worker_main(int qid)
{
    struct message msg;
    char text[ESCAPED_SIZE(MSG_MAX)];
    int status = EXIT_SUCCESS;

    set_role("worker");
    log_line("started");
    for (;;) {
        /* Type 0: the first message on the queue, whatever its type. */
        ssize_t len = msgrcv(qid, &msg, sizeof msg.mtext, 0, 0);

        if (len == -1) {
            if (errno == EINTR)
                continue;
            warn_errno("msgrcv"); /* EIDRM: the queue was removed */
            status = EXIT_FAILURE;
            break;
        }
        if (msg.mtype == MSG_EXIT)
            break;
        escape(text, msg.mtext, (size_t)len);
        log_line("received \"%s\"", text);
    }
    log_line("exited");
    _exit(status); /* not exit(): see chapter 1 */
}

/* Logs how one child ended: its exit status, or the signal that killed it. */
static void log_child_status(pid_t pid, int status)
{
    if (WIFEXITED(status))
        log_line("worker %ld exited with status %d", (long)pid,
                 WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        log_line("worker %ld was killed by signal %d (%s)", (long)pid,
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
}

/* Waits for every child (chapter 1). Returns 0, or -1 if waitpid() failed
 * for a reason other than "no more children". */
static int reap_all(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);

        if (pid == -1) {
            if (errno == EINTR)
                continue;
            if (errno == ECHILD)
                return 0;
            warn_errno("waitpid");
            return -1;
        }
        log_child_status(pid, status);
    }
}

/* Creates N private queues. IPC_PRIVATE always makes a new queue with a key
 * no other program can look up; only processes that are told the id (here:
 * children, which inherit it) use it. Mode 0600: only our user may read or
 * write it, although any process of ours that guesses the id could.
 * Returns 0, or -1 after removing the queues it made. */
static int create_queues(int *qids, int n)
{
    for (int i = 0; i < n; i++) {
        qids[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (qids[i] == -1) {
            warn_errno("msgget");
            while (i-- > 0)
                msgctl(qids[i], IPC_RMID, NULL);
            return -1;
        }
    }
    return 0;
}

/* Removes the queues. A queue outlives every process that used it: without
 * IPC_RMID it stays in the kernel until reboot (see ipcs -q). */
static int remove_queues(const int *qids, int n)
{
    int status = 0;

    for (int i = 0; i < n; i++) {
        if (msgctl(qids[i], IPC_RMID, NULL) == -1) {
            warn_errno("msgctl IPC_RMID");
            status = -1;
        }
    }
    return status;
}

/* Forks one worker per queue. Returns how many were started: fewer than N
 * if fork() failed. */
static int start_workers(const int *qids, int n)
{
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();

        if (pid == -1) {
            warn_errno("fork");
            return i;
        }
        if (pid == 0)
            worker_main(qids[i]); /* never returns */
    }
    return n;
}

/* Puts one message on the next worker's queue. A message too long for our
 * struct is skipped with a warning. Returns 0, or -1 if msgsnd() failed. */
static int dispatch(const int *qids, int n, int *cursor, const char *data,
                    size_t len)
{
    if (len > MSG_MAX) {
        fprintf(stderr,
                "server: a message of %zu bytes is longer than %d;"
                " skipped\n",
                len, MSG_MAX);
        return 0;
    }
    if (send_message(qids[next_slot(cursor, n)], MSG_DATA, data, len) == -1) {
        warn_errno("msgsnd");
        return -1;
    }
    return 0;
}

/* Sends every message from standard input, one per line, the newline left
 * out. Returns 0, or -1 on a read or send error. */
static int dispatch_stdin(const int *qids, int n, int *cursor)
{
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    int status = 0;

    while (status == 0 && (len = getline(&line, &size, stdin)) != -1) {
        if (len > 0 && line[len - 1] == '\n')
            len--;
        status = dispatch(qids, n, cursor, line, (size_t)len);
    }
    if (ferror(stdin)) {
        warn_errno("read standard input");
        status = -1;
    }
    free(line);
    return status;
}

/* Sends the messages, from ARGV or else from standard input, round-robin to
 * the N workers. Returns 0, or -1 on error. */
static int dispatch_all(const int *qids, int n, char **argv, int argc)
{
    int cursor = 0;

    if (argc == 0)
        return dispatch_stdin(qids, n, &cursor);
    for (int i = 0; i < argc; i++) {
        if (dispatch(qids, n, &cursor, argv[i], strlen(argv[i])) == -1)
            return -1;
    }
    return 0;
}

/* Tells each worker to leave once it has handled its queue. */
static int stop_workers(const int *qids, int n)
{
    int status = 0;

    for (int i = 0; i < n; i++) {
        if (send_message(qids[i], MSG_EXIT, "", 0) == -1) {
            warn_errno("msgsnd exit message");
            status = -1;
        }
    }
    return status;
}

int main(int argc, char *argv[])
{
    int qids[WORKERS_MAX];
    int workers = WORKERS_DEFAULT;
    int started, status = EXIT_SUCCESS;
    int opt;

    while ((opt = getopt(argc, argv, "+w:h")) != -1) {
        switch (opt) {
        case 'w':
            workers = parse_workers(optarg);
            if (workers == -1) {
                fprintf(stderr, "server: bad worker count '%s'\n", optarg);
                usage(stderr);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        default:
            usage(stderr);
            return 2;
        }
    }

    /* The queues exist before fork(), so every worker inherits its id. */
    if (create_queues(qids, workers) == -1)
        return EXIT_FAILURE;
    log_line("started");
    started = start_workers(qids, workers);
    if (started < workers ||
        dispatch_all(qids, workers, argv + optind, argc - optind) == -1)
        status = EXIT_FAILURE;

    /* Exit messages go behind the data: each worker first empties its queue.
     * Only workers that were started get one; nobody reads the others. */
    if (stop_workers(qids, started) == -1)
        status = EXIT_FAILURE;
    if (reap_all() == -1)
        status = EXIT_FAILURE;
    if (remove_queues(qids, workers) == -1)
        status = EXIT_FAILURE;
    log_line("exited");
    return status;
}
