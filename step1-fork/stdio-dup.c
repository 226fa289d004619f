/* stdio-dup.c - chapter 1: the bug that util.c's log_line() avoids.
 *
 * Usage: ./stdio-dup            prints one line, as expected
 *        ./stdio-dup | cat      prints the line twice
 *
 * printf() puts its text into a buffer in this process. On a terminal the
 * buffer is flushed at each newline; into a pipe or a file it is flushed only
 * when full or at exit(). fork() copies the whole process, buffer included,
 * so when both parent and child reach exit() the same line is written twice.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    pid_t pid;

    printf("master[%ld]: started\n", (long)getpid());

    pid = fork();
    if (pid == -1) {
        perror("fork");
        return EXIT_FAILURE;
    }
    if (pid == 0)
        exit(EXIT_SUCCESS); /* exit() flushes the child's copy of the buffer */

    if (waitpid(pid, NULL, 0) == -1)
        perror("waitpid");
    return EXIT_SUCCESS; /* returning from main() flushes the parent's copy */
}
