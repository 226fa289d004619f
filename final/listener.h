/* listener.h - final: the Unix-domain socket the master listens on.
 *
 * Owns the socket file's life: refusing a path that does not fit, removing
 * a stale socket but nothing else, creating the file with mode 0600.
 */
#ifndef LISTENER_H
#define LISTENER_H

#include <sys/un.h>

/* Fills ADDR with PATH. Returns 0, or -1 (errno ENAMETOOLONG) if PATH does
 * not fit in sun_path, which would silently cut it. */
int unix_address(struct sockaddr_un *addr, const char *path);

/* Creates a non-blocking listening socket at PATH (SPEC 7). Returns its
 * descriptor, or -1 after saying why not. */
int listener_open(const char *path);

/* Sets O_NONBLOCK on FD. Returns 0, or -1 after saying why not. */
int set_nonblocking(int fd);

#endif
