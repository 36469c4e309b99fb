/* The exit record, the OOM-kill counter it takes its oomKilled flag from, and the live OOM notification. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

int exit_write(const char *dir, const struct exit_record *r) {
  char tmp[4096], final[4096], started[48] = "", finished[48], body[512];
  snprintf(tmp, sizeof tmp, "%s/.exit.json.tmp", dir);
  snprintf(final, sizeof final, "%s/exit.json", dir);
  if (r->started.tv_sec) format_time(&r->started, started, sizeof started);
  format_time(&r->finished, finished, sizeof finished);
  int len = snprintf(body, sizeof body,
                     "{\"pid\":%d,\"exitCode\":%d,\"signal\":%d,\"oomKilled\":%s,\"oomKills\":%lld,\"startedAt\":\"%s\",\"finishedAt\":\"%s\"}\n",
                     r->pid, r->exit_code, r->signal, r->oom_killed ? "true" : "false", r->oom_kills, started, finished);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (write_all(fd, body, (size_t)len) != 0 || fsync(fd) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  if (rename(tmp, final) != 0) return -1;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

/* Reads a small file into buf (NUL-terminated); returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, buf + got, size - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
    if (got == size - 1) break;
  }
  close(fd);
  buf[got] = 0;
  return (ssize_t)got;
}

/* The mount point of the v1 hierarchy carrying `controller`, or of cgroup2 when controller is NULL. */
static int cgroup_mount(const char *controller, char *out, size_t size) {
  static char info[65536];
  if (read_small("/proc/self/mountinfo", info, sizeof info) < 0) return -1;
  for (char *line = strtok(info, "\n"); line; line = strtok(NULL, "\n")) {
    char *sep = strstr(line, " - ");
    if (!sep) continue;
    char fstype[32], source[64], opts[512], mnt_root[256], point[512];
    if (sscanf(sep + 3, "%31s %63s %511s", fstype, source, opts) != 3) continue;
    if (sscanf(line, "%*s %*s %*s %255s %511s", mnt_root, point) != 2 || strcmp(mnt_root, "/") != 0) continue;
    if (!controller) {
      if (strcmp(fstype, "cgroup2") != 0) continue;
    } else {
      if (strcmp(fstype, "cgroup") != 0) continue;
      int found = 0;
      for (char *o = strtok_r(opts, ",", &sep); o; o = strtok_r(NULL, ",", &sep))
        if (strcmp(o, controller) == 0) found = 1;
      if (!found) continue;
    }
    snprintf(out, size, "%s", point);
    return 0;
  }
  return -1;
}

int oom_locate(pid_t pid, char *file, size_t size) {
  char path[64], groups[4096], mount[512];
  snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
  if (read_small(path, groups, sizeof groups) < 0) return -1;
  const char *v2 = NULL, *v1 = NULL;
  for (char *line = strtok(groups, "\n"); line; line = strtok(NULL, "\n")) {
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = 0;
    if (strcmp(c1 + 1, "") == 0 && strcmp(line, "0:") == 0) v2 = c2 + 1;
    for (char *save, *c = strtok_r(c1 + 1, ",", &save); c; c = strtok_r(NULL, ",", &save))
      if (strcmp(c, "memory") == 0) v1 = c2 + 1;
  }
  if (v1 && cgroup_mount("memory", mount, sizeof mount) == 0) {
    snprintf(file, size, "%s%s/memory.oom_control", mount, v1);
    return 0;
  }
  if (v2 && cgroup_mount(NULL, mount, sizeof mount) == 0) {
    snprintf(file, size, "%s%s/memory.events", mount, v2);
    if (access(file, R_OK) == 0) return 0;
  }
  return -1;
}

/* "oom_kill N" appears in both files (v1 since Linux 4.13). */
long long oom_count(const char *file) {
  char buf[1024];
  if (!file[0] || read_small(file, buf, sizeof buf) < 0) return -1;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
    if (strncmp(line, "oom_kill ", 9) == 0) return atoll(line + 9);
  return -1;
}

/*
 * A descriptor that becomes readable when the memory cgroup behind `file` (from oom_locate) meets OOM:
 * v1: an eventfd registered through cgroup.event_control for memory.oom_control (the kernel signals it when
 * the group is under OOM, before the victim is chosen, and once more when the group is removed);
 * v2: inotify on memory.events, which the kernel marks modified whenever one of its counters moves.
 * Either way it only says "look again": the oom_kill counter decides whether a process was killed.
 */
int oom_watch_open(const char *file) {
  size_t len = strlen(file);
  static const char v1[] = "/memory.oom_control";
  if (len > sizeof v1 - 1 && strcmp(file + len - (sizeof v1 - 1), v1) == 0) {
    char control[4096], line[64];
    snprintf(control, sizeof control, "%.*s/cgroup.event_control", (int)(len - (sizeof v1 - 1)), file);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int ofd = open(file, O_RDONLY | O_CLOEXEC);
    int cfd = open(control, O_WRONLY | O_CLOEXEC);
    int ok = efd >= 0 && ofd >= 0 && cfd >= 0;
    if (ok) {
      int n = snprintf(line, sizeof line, "%d %d", efd, ofd);
      ok = write(cfd, line, (size_t)n) == n;
    }
    /* The registration holds its own references: only the eventfd stays with us. */
    if (ofd >= 0) close(ofd);
    if (cfd >= 0) close(cfd);
    if (!ok && efd >= 0) close(efd);
    return ok ? efd : -1;
  }
  int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (ifd < 0) return -1;
  if (inotify_add_watch(ifd, file, IN_MODIFY) < 0) {
    close(ifd);
    return -1;
  }
  return ifd;
}

/* Empties the watch descriptor (an eventfd counter or queued inotify events). */
void oom_watch_drain(int fd) {
  char buf[4096];
  while (read(fd, buf, sizeof buf) > 0) {}
}

/* --- leaving the container's cgroup (library mode: berth-run moved us in, as the berth-init it expects) --- */

static char home_groups[4096];

int cgroup_remember(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
  return read_small(path, home_groups, sizeof home_groups) < 0 ? -1 : 0;
}

int cgroup_return(void) {
  char self[16], mount[512], file[4096], groups[sizeof home_groups];
  int failed = 0;
  snprintf(self, sizeof self, "%d", (int)getpid());
  memcpy(groups, home_groups, sizeof groups);
  for (char *save, *line = strtok_r(groups, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = 0;
    const char *controller = c1[1] ? c1 + 1 : NULL;
    /* A v1 line may name several controllers ("cpu,cpuacct"): the first identifies the hierarchy. */
    char first[64];
    if (controller) {
      snprintf(first, sizeof first, "%s", controller);
      first[strcspn(first, ",")] = 0;
      controller = first;
    }
    if (cgroup_mount(controller, mount, sizeof mount) != 0) continue;
    snprintf(file, sizeof file, "%s%s/cgroup.procs", mount, c2 + 1);
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, self, strlen(self)) < 0) failed = 1;
    if (fd >= 0) close(fd);
  }
  return failed ? -1 : 0;
}
