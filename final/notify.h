/* notify.h - final: telling a service manager how the pool is (SPEC 8).
 *
 * Owns systemd's readiness protocol, sd_notify(3) without libsystemd: when
 * the environment names a socket in NOTIFY_SOCKET (a path, or "@name" for
 * an abstract one), each call sends one datagram of "NAME=value" lines
 * there. Without NOTIFY_SOCKET every call does nothing. A send never waits
 * and never fails the pool: the first failure is logged, as a warning.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

/* Takes NOTIFY_SOCKET from the environment and removes it from there, as
 * sd_notify's unset_environment does: the workers, forked with a copy of
 * the environment, must not pass it on. Call it in the process that stays
 * the master (after daemon_start()): the service manager accepts messages
 * from the main pid only (NotifyAccess=main). */
void notify_init(void);

/* READY=1: the socket accepts (at start, and when a reload is done). */
void notify_ready(int workers);

/* RELOADING=1 with MONOTONIC_USEC: a reload begins. */
void notify_reloading(int workers);

/* STOPPING=1: a stop begins. */
void notify_stopping(void);

/* STATUS= alone: the worker count changed. */
void notify_status(int workers);

#endif
