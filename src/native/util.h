/* Small shared pieces of berth-init: error reporting over the sync channel and safe path handling. */
#ifndef BERTH_UTIL_H
#define BERTH_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "fdio.h"

/* The socket to berth-run (fd 3 at start). -1 once closed. */
extern int sync_fd;

/* Reports "error <message>" to berth-run (or stderr when the channel is gone) and exits 1. */
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
/* Like die, with ": strerror(errno)" appended. */
__attribute__((noreturn, format(printf, 1, 2))) void die_errno(const char *fmt, ...);

/* Writes one line to the sync channel; returns -1 on failure. */
int sync_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads one line (without the newline) from fd into buf; returns its length or -1 on EOF/error. */
ssize_t read_line(int fd, char *buf, size_t size);
int write_file(const char *path, const char *data);

/*
 * Opens `path` inside the directory tree rooted at rootfd so that neither symlinks nor ".." can leave it
 * (openat2 RESOLVE_IN_ROOT). With create: missing directories are made (mode 0755) and, for KIND_FILE, the
 * final component is created as an empty file. Returns an O_PATH fd or -1 with errno set.
 */
int open_in_root(int rootfd, const char *path, int create, int is_file);

/* "/proc/self/fd/N" for mounting onto an fd. */
const char *fd_path(int fd, char *buf, size_t size);

#endif
