/*
 * berth-monitor: the parent (subreaper) of one container or exec process. Shared declarations of its parts:
 * monitor-log.c (CRI log file), monitor-exit.c (exit record, OOM count and live OOM watch, leaving the
 * container's cgroup), monitor-sock.c (unix sockets, fd passing). The event loop is in monitor.c.
 * Nothing here allocates: every buffer is fixed, so memory does not grow with the output.
 */
#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "fdio.h"

/* Longest CRI log line content; longer lines become several "P" records. */
#define LOG_LINE_MAX 16384

enum stream_id { STREAM_STDOUT = 1, STREAM_STDERR = 2 };

struct log_stream {
  enum stream_id id;
  int fd;          /* read end of the process's pipe (or the pty master); -1 once closed */
  size_t len;      /* bytes of an unfinished line in buf */
  long long since; /* monotonic ms when buf became non-empty */
  char buf[LOG_LINE_MAX];
};

/* CRI log file. log_open(NULL) disables logging. Return 0 or -1 with errno. */
int log_open(const char *path);
int log_reopen(void);
/* Records the bytes just read into s->buf[s->len .. s->len+n): complete lines as F, a full buffer as P. */
void log_consume(struct log_stream *s, size_t n);
/* Writes an unfinished line as P (no newline was seen: nothing is added on reconstruction). */
void log_flush(struct log_stream *s);
long long now_ms(void);
/* RFC 3339 with nanoseconds, UTC; buf must hold 40 bytes. */
void format_time(const struct timespec *ts, char *buf, size_t size);

/* Exit record: <dir>/exit.json written with temp+fsync+rename+fsync(dir). */
struct exit_record {
  int pid;
  int exit_code;  /* the code, or 128+signal */
  int signal;     /* 0 unless killed by a signal */
  int oom_killed;
  long long oom_kills; /* OOM kills in the process's memory cgroup since it started (any of its processes) */
  struct timespec started, finished;
};
int exit_write(const char *dir, const struct exit_record *r);

/* OOM kills counted by the memory cgroup of pid (v1 memory.oom_control, else v2 memory.events). */
int oom_locate(pid_t pid, char *file, size_t size);
long long oom_count(const char *file);
/* A pollable descriptor that wakes us when the group may have met OOM (v1 eventfd, v2 inotify); -1 if none. */
int oom_watch_open(const char *file);
void oom_watch_drain(int fd);

/* Remembers the cgroups of `pid` (read before we are moved) and later moves us back into them. */
int cgroup_remember(pid_t pid);
int cgroup_return(void);

/* Unix sockets: paths longer than sun_path go through /proc/self/fd of the directory. */
int sock_listen(const char *path);
int sock_recv_fd(int sock);


#endif
