#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int sync_fd = 3;

static void vreport(const char *fmt, va_list ap, int err) {
  char msg[4096];
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  if (err && n >= 0 && (size_t)n < sizeof msg) snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(err));
  /* The message travels as one line. */
  for (char *c = msg; *c; c++) if (*c == '\n') *c = ' ';
  if (sync_fd < 0 || sync_send("error %s", msg) < 0) dprintf(2, "berth-init: %s\n", msg);
}

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(fmt, ap, 0);
  va_end(ap);
  _exit(1);
}

void die_errno(const char *fmt, ...) {
  int err = errno;
  va_list ap;
  va_start(ap, fmt);
  vreport(fmt, ap, err);
  va_end(ap);
  _exit(1);
}

int sync_send(const char *fmt, ...) {
  char line[4200];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  if ((size_t)n > sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  return sync_fd < 0 ? -1 : write_all(sync_fd, line, (size_t)n);
}

ssize_t read_line(int fd, char *buf, size_t size) {
  size_t n = 0;
  while (n + 1 < size) {
    ssize_t r = read(fd, buf + n, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    if (buf[n] == '\n') break;
    n++;
  }
  buf[n] = 0;
  return (ssize_t)n;
}

int write_file(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = write_all(fd, data, strlen(data));
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int openat2_in_root(int rootfd, const char *path, int flags) {
  struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/*
 * One pass of creating `path` component by component. Returns an O_PATH fd, -1 with errno set, or -2 when a
 * component is a symlink to something that does not exist yet: `next` then holds the path to try instead
 * (the link's target, resolved like the kernel would inside the root, followed by the rest of the path).
 */
static int create_walk(int rootfd, const char *path, int is_file, char *next, size_t nextlen) {
  char walk[4096];
  size_t len = strlen(path);
  if (len >= sizeof walk) { errno = ENAMETOOLONG; return -1; }
  memcpy(walk, path, len + 1);
  char *p = walk;
  while (*p == '/') p++;
  while (*p) {
    char *slash = strchr(p, '/');
    const char *rest = "";
    if (slash) {
      *slash = 0;
      rest = slash + 1;
      while (*rest == '/') rest++;
    }
    int last = (*rest == 0);
    int cur = openat2_in_root(rootfd, walk, O_PATH);
    if (cur < 0 && errno == ENOENT) {
      /* Parent: everything before this component. */
      char *name = strrchr(walk, '/');
      int parent;
      if (name) {
        *name = 0;
        parent = openat2_in_root(rootfd, walk[0] ? walk : "/", O_PATH | O_DIRECTORY);
        *name = '/';
        name++;
      } else {
        parent = openat2_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
        name = walk;
      }
      if (parent < 0) return -1;
      int rc;
      if (last && is_file) {
        rc = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (rc >= 0) close(rc);
      } else {
        rc = mkdirat(parent, name, 0755);
      }
      int saved = errno;
      if (rc < 0 && saved == EEXIST) {
        /* A symlink whose target does not exist (yet): continue at the target, as runc does. */
        char target[4096];
        ssize_t n = readlinkat(parent, name, target, sizeof target - 1);
        if (n > 0) {
          target[n] = 0;
          int w = target[0] == '/' ? snprintf(next, nextlen, "%s%s%s", target, *rest ? "/" : "", rest)
                                   : snprintf(next, nextlen, "%.*s/%s%s%s", (int)(name - walk), walk, target, *rest ? "/" : "", rest);
          close(parent);
          if (w < 0 || (size_t)w >= nextlen) { errno = ENAMETOOLONG; return -1; }
          return -2;
        }
      }
      close(parent);
      if (rc < 0 && saved != EEXIST) { errno = saved; return -1; }
      cur = openat2_in_root(rootfd, walk, O_PATH);
    }
    if (cur < 0) return -1;
    if (last) return cur;
    close(cur);
    *slash = '/';
    p = (char *)rest;
  }
  return openat2_in_root(rootfd, path, O_PATH);
}

int open_in_root(int rootfd, const char *path, int create, int is_file) {
  char cur[4096], next[4096];
  snprintf(cur, sizeof cur, "%s", path);
  /* Bounded like the kernel's own symlink following. */
  for (int links = 0; links < 40; links++) {
    int fd = openat2_in_root(rootfd, cur, O_PATH);
    if (fd >= 0 || !create || errno != ENOENT) return fd;
    fd = create_walk(rootfd, cur, is_file, next, sizeof next);
    if (fd != -2) return fd;
    memcpy(cur, next, sizeof cur);
  }
  errno = ELOOP;
  return -1;
}

const char *fd_path(int fd, char *buf, size_t size) {
  snprintf(buf, size, "/proc/self/fd/%d", fd);
  return buf;
}
