/* queue.c - final: System V message queues (msgget, msgsnd, msgrcv, msgctl).
 * Owns: the message layout on the queue and every call on a queue. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "queue.h"

int queue_create(void)
{
    /* IPC_PRIVATE always makes a new queue that no other program can look
     * up by key; mode 0600 keeps other users from reading or writing it. */
    return msgget(IPC_PRIVATE, IPC_CREAT | 0600);
}

int queue_remove(int qid)
{
    return msgctl(qid, IPC_RMID, NULL);
}

int queue_send(int qid, long type, uint64_t seq, const char *text, size_t len)
{
    struct message msg;

    if (len > MSG_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    msg.mtype = type;
    msg.body.seq = seq;
    msg.body.len = (uint32_t)len;
    memcpy(msg.body.text, text, len);
    /* The size counts the body only, and only the bytes in use. With
     * IPC_NOWAIT msgsnd() never sleeps, so no signal can interrupt it
     * (EINTR is for a sleeping call). */
    return msgsnd(qid, &msg, MSG_HEADER + len, IPC_NOWAIT);
}

int queue_receive(int qid, struct message *msg, int flags)
{
    /* Type 0: the first message on the queue, whatever its type.
     * MSG_NOERROR: a message longer than the buffer (not one of ours) is
     * cut to it and taken off the queue, and refused below; without it,
     * msgrcv() would fail with E2BIG and leave it first in the queue, in
     * the way of every message behind it, for ever. */
    ssize_t n = msgrcv(qid, msg, sizeof msg->body, 0, flags | MSG_NOERROR);

    if (n == -1)
        return -1;
    /* Anyone with our user id may put anything on the queue. A length
     * beyond the protocol's would overflow the buffers sized for MSG_MAX
     * (the log line's escaping): only our own messages go on. */
    if (n < (ssize_t)MSG_HEADER || msg->body.len > MSG_MAX ||
        (size_t)n != MSG_HEADER + msg->body.len) {
        msg->mtype = 0; /* nothing for a redelivery to take */
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

int queue_take_exit(int qid)
{
    struct message msg;

    /* A positive type: the first message of exactly that type. */
    if (msgrcv(qid, &msg, sizeof msg.body, MSG_EXIT,
               IPC_NOWAIT | MSG_NOERROR) == -1)
        return -1;
    return 0;
}

long queue_depth(int qid)
{
    struct msqid_ds ds;

    if (msgctl(qid, IPC_STAT, &ds) == -1)
        return -1;
    return (long)ds.msg_qnum;
}
