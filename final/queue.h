/* queue.h - final: the System V message queues, one per worker slot.
 *
 * The master puts each message on a slot's queue with a sequence number;
 * the slot's worker takes them oldest first. An exit order, sent behind
 * the data, tells the worker it names to leave once it comes to it.
 */
#ifndef QUEUE_H
#define QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest message, in bytes (SPEC 4). */
#define MSG_MAX 1024

/* Message types. A worker asks for type 0, "the first message whatever its
 * type", so an exit order never overtakes the data before it. An exit
 * order carries, in place of a sequence number, the serial number of the
 * worker it is for (pool.h). */
enum { MSG_DATA = 1, MSG_EXIT = 2 };

/* A System V message: the kernel reads the long, then as many bytes of what
 * follows as msgsnd() is told. Ours carry, before the text, the master's
 * sequence number for the message, so that a message a worker held when it
 * died can be recognised (shared.h), and the text's length, so that the
 * message is complete in itself wherever msgrcv() puts it. */
struct message {
    long mtype;
    struct {
        uint64_t seq;
        uint32_t len;
        char text[MSG_MAX];
    } body;
};

/* msgsnd() and msgrcv() expect the body right after the long. */
_Static_assert(offsetof(struct message, body) == sizeof(long),
               "struct message must match the kernel's struct msgbuf");

/* The bytes of a body before its text. */
#define MSG_HEADER (offsetof(struct message, body.text) - sizeof(long))

/* Creates a private queue (IPC_PRIVATE, mode 0600). Returns its id, or -1
 * with errno set. */
int queue_create(void);

/* Removes queue QID and whatever is still on it. Returns 0, or -1. */
int queue_remove(int qid);

/* Puts a message of TYPE with SEQ and LEN bytes of TEXT on queue QID,
 * without waiting: a full queue fails at once with EAGAIN (the master never
 * sleeps on one queue). Returns 0, or -1 with errno set. */
int queue_send(int qid, long type, uint64_t seq, const char *text, size_t len);

/* Takes the oldest message from QID into *MSG; with FLAGS IPC_NOWAIT it
 * fails with ENOMSG when the queue is empty, with 0 it sleeps. Returns 0, or
 * -1 with errno set (EINTR: a signal came first; EIDRM: the queue was
 * removed; EBADMSG: a message that is not one of ours, of any size, which
 * is gone from the queue and must be ignored). */
int queue_receive(int qid, struct message *msg, int flags);

/* Takes the first exit order off QID, wherever it is, without waiting.
 * Returns 0, or -1 with errno set (ENOMSG: there is none). */
int queue_take_exit(int qid);

/* The number of messages on QID, or -1 with errno set. */
long queue_depth(int qid);

#endif
