/*
 * berth-layer-meta ROOT: the few layer-unpacking syscalls Node has no binding for (mknod for device nodes,
 * fifos and overlay whiteouts; lsetxattr for image xattrs and opaque directories; syncfs before a snapshot
 * is committed). The image applier (src/image/snapshot/) runs one per layer that needs it and sends requests
 * on stdin; each request is NUL-terminated fields:
 *
 *   mknod    PATH MODE(octal, with S_IFCHR/S_IFBLK/S_IFIFO) MAJOR MINOR
 *   setxattr PATH NAME VALUE(hex)
 *   syncfs
 *
 * and gets one line on stdout: "ok" or "error <message>". PATH is relative to ROOT; its parent directory is
 * opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), so neither ".." nor a
 * symlink inside ROOT can make a request act outside it, and the last component is never followed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static int rootfd = -1;

static void reply_ok(void) {
  fputs("ok\n", stdout);
  fflush(stdout);
}

static void reply_err(const char *what, const char *path, int err) {
  /* Paths may hold newlines: the reply is one line, so they are replaced. */
  char msg[8192];
  snprintf(msg, sizeof msg, "%s %s: %s", what, path, strerror(err));
  for (char *c = msg; *c; c++) if (*c == '\n') *c = '?';
  printf("error %s\n", msg);
  fflush(stdout);
}

/* Reads one NUL-terminated field; returns NULL at end of input. The buffer is the caller's to free. */
static char *field(void) {
  char *buf = NULL;
  size_t cap = 0;
  ssize_t n = getdelim(&buf, &cap, '\0', stdin);
  if (n <= 0 || buf[n - 1] != '\0') {
    free(buf);
    return NULL;
  }
  return buf;
}

/* Opens PATH's parent directory inside ROOT and points *name at the last component. */
static int open_parent(char *path, const char **name) {
  char *slash = strrchr(path, '/');
  const char *parent = ".";
  if (slash) {
    *slash = '\0';
    parent = path;
    *name = slash + 1;
  } else {
    *name = path;
  }
  if (**name == '\0' || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
    errno = EINVAL;
    return -1;
  }
  struct open_how how = {
    .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };
  int fd = (int)syscall(SYS_openat2, rootfd, parent, &how, sizeof how);
  if (slash) *slash = '/';
  return fd;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static void do_mknod(char *path, const char *mode_s, const char *major_s, const char *minor_s) {
  char *end;
  errno = 0;
  unsigned long mode = strtoul(mode_s, &end, 8);
  unsigned long maj = strtoul(major_s, &end, 10);
  unsigned long min = strtoul(minor_s, &end, 10);
  mode_t type = (mode_t)mode & S_IFMT;
  if (errno || (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO)) {
    reply_err("mknod", path, EINVAL);
    return;
  }
  const char *name;
  int dfd = open_parent(path, &name);
  if (dfd < 0) {
    reply_err("mknod (parent)", path, errno);
    return;
  }
  int rc = mknodat(dfd, name, (mode_t)mode, makedev(maj, min));
  int err = errno;
  close(dfd);
  if (rc < 0) reply_err("mknod", path, err);
  else reply_ok();
}

static void do_setxattr(char *path, const char *name, const char *hex) {
  size_t len = strlen(hex);
  if (len % 2) {
    reply_err("setxattr (value)", path, EINVAL);
    return;
  }
  unsigned char *value = malloc(len / 2 + 1);
  if (!value) {
    reply_err("setxattr", path, ENOMEM);
    return;
  }
  for (size_t i = 0; i < len / 2; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(value);
      reply_err("setxattr (value)", path, EINVAL);
      return;
    }
    value[i] = (unsigned char)(hi << 4 | lo);
  }
  const char *leaf;
  int dfd = open_parent(path, &leaf);
  if (dfd < 0) {
    free(value);
    reply_err("setxattr (parent)", path, errno);
    return;
  }
  /* There is no lsetxattrat: the parent, already resolved inside ROOT, is reached through its fd, and
     lsetxattr does not follow the last component. */
  char via[64 + 4096];
  int n = snprintf(via, sizeof via, "/proc/self/fd/%d/%s", dfd, leaf);
  int rc = -1, err = ENAMETOOLONG;
  if (n > 0 && (size_t)n < sizeof via) {
    rc = lsetxattr(via, name, value, len / 2, 0);
    err = errno;
  }
  close(dfd);
  free(value);
  if (rc < 0) reply_err("setxattr", path, err);
  else reply_ok();
}

int main(int argc, char **argv) {
  if (argc != 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fprintf(argc == 2 ? stdout : stderr,
            "usage: berth-layer-meta ROOT\n"
            "Applies layer metadata requests read from stdin inside ROOT (NUL-terminated fields):\n"
            "  mknod PATH MODE MAJOR MINOR | setxattr PATH NAME HEXVALUE | syncfs\n"
            "One reply line per request: ok | error <message>.\n");
    return argc == 2 ? 0 : 2;
  }
  /* Not O_PATH: syncfs needs a real open file. */
  rootfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) {
    fprintf(stderr, "berth-layer-meta: open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  umask(0);
  for (;;) {
    char *op = field();
    if (!op) return 0;
    if (strcmp(op, "mknod") == 0) {
      char *p = field(), *m = field(), *ma = field(), *mi = field();
      if (!p || !m || !ma || !mi) {
        fprintf(stderr, "berth-layer-meta: truncated mknod request\n");
        return 1;
      }
      do_mknod(p, m, ma, mi);
      free(p), free(m), free(ma), free(mi);
    } else if (strcmp(op, "setxattr") == 0) {
      char *p = field(), *n = field(), *v = field();
      if (!p || !n || !v) {
        fprintf(stderr, "berth-layer-meta: truncated setxattr request\n");
        return 1;
      }
      do_setxattr(p, n, v);
      free(p), free(n), free(v);
    } else if (strcmp(op, "syncfs") == 0) {
      if (syncfs(rootfd) < 0) reply_err("syncfs", argv[1], errno);
      else reply_ok();
    } else {
      fprintf(stderr, "berth-layer-meta: unknown request \"%s\"\n", op);
      free(op);
      return 1;
    }
    free(op);
  }
}
