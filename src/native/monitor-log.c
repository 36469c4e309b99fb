/*
 * The CRI log format, one record per line: "<RFC3339Nano> <stdout|stderr> <F|P> <content>\n". A line is
 * written with one writev, so a reopen between two writes moves whole lines to the new file.
 */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static int log_fd = -1;
static const char *log_path;

int log_open(const char *path) {
  log_path = path;
  if (!path) return 0;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return -1;
  if (log_fd >= 0) close(log_fd);
  log_fd = fd;
  return 0;
}

/* After rotation (the old file renamed away): a new file at the same path. The old fd stays on failure. */
int log_reopen(void) {
  return log_open(log_path);
}

long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void format_time(const struct timespec *ts, char *buf, size_t size) {
  struct tm tm;
  gmtime_r(&ts->tv_sec, &tm);
  snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec);
}

static void write_record(enum stream_id id, char tag, const char *text, size_t len) {
  if (log_fd < 0) return;
  char head[64];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  format_time(&ts, head, sizeof head);
  size_t h = strlen(head);
  h += (size_t)snprintf(head + h, sizeof head - h, " %s %c ", id == STREAM_STDERR ? "stderr" : "stdout", tag);
  struct iovec iov[3] = { { head, h }, { (void *)text, len }, { "\n", 1 } };
  size_t total = h + len + 1;
  ssize_t n = writev(log_fd, iov, 3);
  while (n < 0 && errno == EINTR) n = writev(log_fd, iov, 3);
  if (n < 0 || (size_t)n == total) return;
  /* Short write (disk full, signal): finish the record byte-exactly, so the file stays parseable. */
  size_t done = (size_t)n;
  for (int i = 0; i < 3; i++) {
    if (done >= iov[i].iov_len) { done -= iov[i].iov_len; continue; }
    if (write_all(log_fd, (char *)iov[i].iov_base + done, iov[i].iov_len - done) != 0) return;
    done = 0;
  }
}

void log_consume(struct log_stream *s, size_t n) {
  if (s->len == 0 && n > 0) s->since = now_ms();
  size_t end = s->len + n, start = 0;
  char *nl;
  while (start < end && (nl = memchr(s->buf + start, '\n', end - start)) != NULL) {
    write_record(s->id, 'F', s->buf + start, (size_t)(nl - (s->buf + start)));
    start = (size_t)(nl - s->buf) + 1;
  }
  if (start < end && end - start == sizeof s->buf) {
    write_record(s->id, 'P', s->buf, sizeof s->buf);
    start = end;
  }
  if (start > 0 && start < end) memmove(s->buf, s->buf + start, end - start);
  s->len = end - start;
  if (start > 0 && s->len) s->since = now_ms();
}

void log_flush(struct log_stream *s) {
  if (s->len) write_record(s->id, 'P', s->buf, s->len);
  s->len = 0;
}

