/*
 * cgroup v2 has no devices controller: access is decided by BPF_PROG_TYPE_CGROUP_DEVICE programs attached to
 * the cgroup (attach type BPF_CGROUP_DEVICE). TypeScript compiles the program; this file only makes the bpf(2)
 * calls, in runc's order: load the new program, attach it next to the old ones (BPF_F_ALLOW_MULTI: every
 * attached program must allow an access, so while both are there the cgroup gets at most what each allows),
 * then detach the old ones. There is never a moment without a filter.
 */
#define _GNU_SOURCE
#include "bpf.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

/*
 * Same string as DEVICE_PROGRAM_LICENSE in devices-bpf.ts and as runc. The kernel checks the license only
 * for GPL-only helpers, and the device program calls no helper at all.
 */
#define DEVICE_PROGRAM_LICENSE "Apache"
#define LOG_SIZE (1u << 20)
/* How much of the verifier's log travels in the error line (its end: that is where the reason is). */
#define LOG_TAIL 1500

static long sys_bpf(int cmd, union bpf_attr *attr) {
  return syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

static uint64_t ptr(const void *p) {
  return (uint64_t)(uintptr_t)p;
}

/* The verifier's log as one line: lines joined with "; ", only the last LOG_TAIL characters. */
static const char *log_summary(char *log) {
  size_t n = strnlen(log, LOG_SIZE - 1);
  while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == ' ')) log[--n] = 0;
  char *start = n > LOG_TAIL ? log + n - LOG_TAIL : log;
  static char out[LOG_TAIL * 2 + 8];
  size_t o = 0;
  if (start != log) o += (size_t)snprintf(out, sizeof out, "...");
  for (char *c = start; *c && o + 3 < sizeof out; c++) {
    if (*c == '\n') {
      out[o++] = ';';
      out[o++] = ' ';
    } else {
      out[o++] = *c;
    }
  }
  out[o] = 0;
  return o ? out : "(empty log)";
}

static int load_program(const unsigned char *insns, size_t len) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  a.insns = ptr(insns);
  a.insn_cnt = (uint32_t)(len / sizeof(struct bpf_insn));
  a.license = ptr(DEVICE_PROGRAM_LICENSE);
  snprintf(a.prog_name, sizeof a.prog_name, "berth_devices");
  int fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
  if (fd >= 0) return fd;
  int err = errno;
  /* Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK: lift it and try again. */
  if (err == EPERM) {
    struct rlimit inf = { RLIM_INFINITY, RLIM_INFINITY };
    if (setrlimit(RLIMIT_MEMLOCK, &inf) == 0 && (fd = (int)sys_bpf(BPF_PROG_LOAD, &a)) >= 0) return fd;
  }
  /* Failed: load again with the verifier's log, only to say why. */
  char *log = calloc(1, LOG_SIZE);
  if (!log) die("load device program: %s", strerror(err));
  a.log_level = 1;
  a.log_buf = ptr(log);
  a.log_size = LOG_SIZE;
  fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
  if (fd >= 0) {
    free(log);
    return fd;
  }
  die("load device program (%zu instructions): %s; verifier: %s", len / sizeof(struct bpf_insn), strerror(err), log_summary(log));
}

/* Ids of the programs attached to the cgroup itself (not inherited), and the flags they were attached with. */
static uint32_t *attached_programs(int cg, const char *dir, uint32_t *count, uint32_t *flags) {
  uint32_t cap = 16;
  for (;;) {
    uint32_t *ids = calloc(cap, sizeof *ids);
    if (!ids) die("out of memory");
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.query.target_fd = (uint32_t)cg;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = ptr(ids);
    a.query.prog_cnt = cap;
    if (sys_bpf(BPF_PROG_QUERY, &a) == 0) {
      *count = a.query.prog_cnt;
      *flags = a.query.attach_flags;
      return ids;
    }
    int err = errno;
    free(ids);
    if (err == ENOSPC && a.query.prog_cnt > cap) {
      cap = a.query.prog_cnt;
      continue;
    }
    errno = err;
    die_errno("query device programs of %s", dir);
  }
}

void device_bpf_run(const struct plan *p) {
  const char *dir = p->device_bpf_dir;
  if (!dir || !p->device_bpf) die("plan: device-bpf mode without a device program");
  if (p->device_bpf_len == 0 || p->device_bpf_len % sizeof(struct bpf_insn) != 0)
    die("device program of %zu bytes is not a sequence of %zu-byte instructions", p->device_bpf_len, sizeof(struct bpf_insn));

  int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) die_errno("open cgroup %s", dir);
  struct statfs sf;
  if (fstatfs(cg, &sf) != 0) die_errno("statfs %s", dir);
  if (sf.f_type != CGROUP2_SUPER_MAGIC) die("%s is not a cgroup v2 directory", dir);

  /* The copy keeps the instructions 8-byte aligned whatever their offset in the plan. */
  void *insns = malloc(p->device_bpf_len);
  if (!insns) die("out of memory");
  memcpy(insns, p->device_bpf, p->device_bpf_len);
  int prog = load_program(insns, p->device_bpf_len);

  uint32_t count = 0, flags = 0;
  uint32_t *old = attached_programs(cg, dir, &count, &flags);

  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.target_fd = (uint32_t)cg;
  a.attach_bpf_fd = (uint32_t)prog;
  a.attach_type = BPF_CGROUP_DEVICE;
  if (count > 0 && !(flags & BPF_F_ALLOW_MULTI)) {
    /* Someone else attached a single program (flags 0 or BPF_F_ALLOW_OVERRIDE): the kernel refuses to mix
     * modes, but attaching with the same flags swaps that program for ours in one step. */
    a.attach_flags = flags;
    if (sys_bpf(BPF_PROG_ATTACH, &a) != 0) die_errno("attach device program to %s", dir);
  } else {
    a.attach_flags = BPF_F_ALLOW_MULTI;
    if (sys_bpf(BPF_PROG_ATTACH, &a) != 0) die_errno("attach device program to %s", dir);
    for (uint32_t i = 0; i < count; i++) {
      union bpf_attr g;
      memset(&g, 0, sizeof g);
      g.prog_id = old[i];
      int fd = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &g);
      if (fd < 0) {
        if (errno == ENOENT) continue; /* gone meanwhile */
        die_errno("open old device program %u of %s", old[i], dir);
      }
      union bpf_attr d;
      memset(&d, 0, sizeof d);
      d.target_fd = (uint32_t)cg;
      d.attach_bpf_fd = (uint32_t)fd;
      d.attach_type = BPF_CGROUP_DEVICE;
      if (sys_bpf(BPF_PROG_DETACH, &d) != 0 && errno != ENOENT)
        die_errno("detach old device program %u from %s", old[i], dir);
      close(fd);
    }
  }
  free(old);
  free(insns);
  close(prog); /* the attachment holds its own reference */
  close(cg);
  if (sync_send("ok") != 0) _exit(1);
  _exit(0);
}
