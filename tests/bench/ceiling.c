/* ceiling.c - bench: the most the message queues allow on this machine.
 *
 * Usage: ceiling [-w N] [-n MSGS] [-m block|skip] > LOG
 *
 * The pool without its socket: a parent puts MSGS short messages
 * round-robin on N System V queues, and N workers take them and write the
 * log line a pool worker writes, one write(2) each. The messages have the
 * final pool's layout (a sequence number and a length before the text) and
 * the workers escape the text as the pool's do, so the same bytes cross
 * the same queues and reach the same log. No server can move messages
 * faster than this through them, so the benchmark divides by it.
 *
 * Two ways to send, because either may be the faster on a given machine:
 *
 *   block  msgsnd(2) waits while the queue in turn is full: the sender
 *          sleeps until its worker makes room, and is woken for it.
 *   skip   msgsnd(2) with IPC_NOWAIT, as the final master sends: a full
 *          queue is skipped for the next one (as pool_dispatch() does), and
 *          only when every queue is full does the sender wait, a short
 *          sleep, as a server waits for its client to send again.
 *
 * Prints one line on standard error:
 * "ceiling workers=N msgs=M mode=MODE secs=S rate=R".
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS_MAX 64
#define MSG_MAX     1024

/* How long the skip sender sleeps when every queue is full: about what a
 * server's client takes to see BUSY and send again. */
#define FULL_SLEEP_NS 50000L

/* The final pool's message (final/queue.h). */
struct message {
    long mtype; /* 1: data, 2: exit */
    struct {
        uint64_t seq;
        uint32_t len;
        char text[MSG_MAX];
    } body;
};

#define MSG_HEADER (offsetof(struct message, body.text) - sizeof(long))

static void die(const char *what)
{
    fprintf(stderr, "ceiling: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_secs(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The escaping of a pool worker's log line (SPEC 3), for text that needs
 * none: the cost of looking at every byte is what counts here. */
static size_t escape(char *dst, const char *src, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];

        if (c < 0x20 || c == 0x7f || c == '\\' || c == '"')
            n += (size_t)sprintf(dst + n, "\\x%02x", c);
        else
            dst[n++] = (char)c;
    }
    dst[n] = '\0';
    return n;
}

static void worker(int qid)
{
    pid_t pid = getpid();
    struct message m;
    char text[4 * MSG_MAX + 1], line[4 * MSG_MAX + 64];

    for (;;) {
        ssize_t n = msgrcv(qid, &m, sizeof m.body, 0, MSG_NOERROR);
        int len;

        if (n == -1) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        if (m.mtype == 2)
            _exit(0);
        escape(text, m.body.text, m.body.len);
        len = snprintf(line, sizeof line, "worker[%ld]: received \"%s\"\n",
                       (long)pid, text);
        if (write(STDOUT_FILENO, line, (size_t)len) != len)
            _exit(1);
    }
}

static int send_one(int qid, long type, uint64_t seq, const char *text,
                    size_t len, int flags)
{
    struct message m = {.mtype = type};

    m.body.seq = seq;
    m.body.len = (uint32_t)len;
    memcpy(m.body.text, text, len);
    for (;;) {
        if (msgsnd(qid, &m, MSG_HEADER + len, flags) == 0)
            return 0;
        if (errno == EAGAIN)
            return -1;
        if (errno != EINTR)
            die("msgsnd");
    }
}

/* Message SEQ to queue FIRST, or the first of the next ones with room. */
static void send_skip(const int *qids, int workers, int first, uint64_t seq,
                      const char *text, size_t len)
{
    static const struct timespec full = {0, FULL_SLEEP_NS};

    for (;;) {
        for (int k = 0; k < workers; k++) {
            if (send_one(qids[(first + k) % workers], 1, seq, text, len,
                         IPC_NOWAIT) == 0)
                return;
        }
        nanosleep(&full, NULL);
    }
}

int main(int argc, char *argv[])
{
    int qids[WORKERS_MAX], workers = 3, opt;
    unsigned long msgs = 100000;
    const char *mode = "block";
    double start, secs;

    while ((opt = getopt(argc, argv, "w:n:m:")) != -1) {
        if (opt == 'w')
            workers = atoi(optarg);
        else if (opt == 'n')
            msgs = strtoul(optarg, NULL, 10);
        else if (opt == 'm')
            mode = optarg;
        else
            return 2;
    }
    if (workers < 1 || workers > WORKERS_MAX ||
        (strcmp(mode, "block") != 0 && strcmp(mode, "skip") != 0))
        return 2;
    for (int i = 0; i < workers; i++) {
        qids[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (qids[i] == -1)
            die("msgget");
    }
    /* The workers' log lines go straight to the file: nothing buffered in
     * stdio to be written twice. */
    fflush(stdout);
    for (int i = 0; i < workers; i++) {
        pid_t pid = fork();

        if (pid == -1)
            die("fork");
        if (pid == 0)
            worker(qids[i]);
    }
    start = now_secs();
    for (unsigned long i = 0; i < msgs; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "m%lu", i);
        int first = (int)(i % (unsigned long)workers);

        if (mode[0] == 'b')
            send_one(qids[first], 1, i + 1, text, (size_t)len, 0);
        else
            send_skip(qids, workers, first, i + 1, text, (size_t)len);
    }
    for (int i = 0; i < workers; i++)
        send_one(qids[i], 2, 0, "", 0, 0);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    secs = now_secs() - start;
    for (int i = 0; i < workers; i++)
        msgctl(qids[i], IPC_RMID, NULL);
    fprintf(stderr, "ceiling workers=%d msgs=%lu mode=%s secs=%.3f rate=%.0f\n",
            workers, msgs, mode, secs, msgs / secs);
    return 0;
}
