/* Blocking fd I/O shared by the C helpers (berth-init, berth-monitor). */
#ifndef BERTH_FDIO_H
#define BERTH_FDIO_H

#include <stddef.h>

/* Writes all of buf, resuming after short writes and EINTR; 0, or -1 with errno set. */
int write_all(int fd, const void *buf, size_t len);

#endif
