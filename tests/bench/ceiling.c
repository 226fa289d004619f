/* ceiling.c - bench: the most the message queues allow on this machine.
 *
 * Usage: ceiling [-w N] [-n MSGS] > LOG
 *
 * The pool without its socket: a parent puts MSGS short messages
 * round-robin on N System V queues as fast as msgsnd(2) goes, and N workers
 * take them and write the same log line a pool worker writes, one write(2)
 * each. No server can move messages faster than this through the same
 * queues and log, so the benchmark divides by it. Prints one line:
 * "ceiling workers=N msgs=M secs=S rate=R".
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS_MAX 64

struct message {
    long mtype; /* 1: data, 2: exit */
    char text[64];
};

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

static void worker(int qid)
{
    struct message m;
    char line[128];

    for (;;) {
        ssize_t n = msgrcv(qid, &m, sizeof m.text, 0, 0);
        int len;

        if (n == -1) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        if (m.mtype == 2)
            _exit(0);
        len = snprintf(line, sizeof line, "worker[%ld]: received \"%.*s\"\n",
                       (long)getpid(), (int)n, m.text);
        if (write(STDOUT_FILENO, line, (size_t)len) != len)
            _exit(1);
    }
}

static void send_msg(int qid, long type, const char *text, size_t len)
{
    struct message m = {.mtype = type};

    memcpy(m.text, text, len);
    while (msgsnd(qid, &m, len, 0) == -1) {
        if (errno != EINTR)
            die("msgsnd");
    }
}

int main(int argc, char *argv[])
{
    int qids[WORKERS_MAX], workers = 3, opt;
    unsigned long msgs = 100000;
    double start, secs;

    while ((opt = getopt(argc, argv, "w:n:")) != -1) {
        if (opt == 'w')
            workers = atoi(optarg);
        else if (opt == 'n')
            msgs = strtoul(optarg, NULL, 10);
        else
            return 2;
    }
    if (workers < 1 || workers > WORKERS_MAX)
        return 2;
    for (int i = 0; i < workers; i++) {
        qids[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (qids[i] == -1)
            die("msgget");
    }
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

        send_msg(qids[i % (unsigned long)workers], 1, text, (size_t)len);
    }
    for (int i = 0; i < workers; i++)
        send_msg(qids[i], 2, "", 0);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    secs = now_secs() - start;
    for (int i = 0; i < workers; i++)
        msgctl(qids[i], IPC_RMID, NULL);
    fprintf(stderr, "ceiling workers=%d msgs=%lu secs=%.3f rate=%.0f\n",
            workers, msgs, secs, msgs / secs);
    return 0;
}
