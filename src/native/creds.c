#define _GNU_SOURCE
#include "creds.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void creds_apply_limits(const struct plan *p) {
  for (int i = 0; i < p->nrlimits; i++) {
    const struct rlimit_op *r = &p->rlimits[i];
    struct rlimit64 lim = { .rlim_cur = r->soft, .rlim_max = r->hard };
    if (syscall(SYS_prlimit64, 0, (int)r->resource, &lim, NULL) != 0) die_errno("%s: setrlimit", r->label);
  }
  if (p->has_oom_score_adj) {
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)p->oom_score_adj);
    if (write_file("/proc/self/oom_score_adj", v) != 0) die_errno("process.oomScoreAdj: write %s", v);
  }
  if (p->has_personality && personality((unsigned long)p->personality) < 0) die_errno("linux.personality");
  if (p->has_ioprio && syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (int)p->ioprio) != 0) die_errno("process.ioPriority");
  if (p->has_scheduler) {
    /* struct sched_attr (sched_setattr(2)); glibc has no wrapper. */
    struct {
      uint32_t size, policy;
      uint64_t flags;
      int32_t nice;
      uint32_t priority;
      uint64_t runtime, deadline, period;
    } attr = {
      .size = 48, .policy = (uint32_t)p->sched[0], .flags = p->sched[1], .nice = (int32_t)p->sched[2],
      .priority = (uint32_t)p->sched[3], .runtime = p->sched[4], .deadline = p->sched[5], .period = p->sched[6],
    };
    if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) die_errno("process.scheduler: sched_setattr");
  }
}

void creds_set_affinity(const struct plan *p, int phase) {
  if (!p->affinity[phase]) return;
  if (sched_setaffinity(0, p->affinity_len[phase], (const cpu_set_t *)(const void *)p->affinity[phase]) != 0)
    die_errno("process.execCPUAffinity.%s: sched_setaffinity", phase == 1 ? "initial" : "final");
}

static int cap_last(void) {
  static int last = -1;
  if (last >= 0) return last;
  char buf[16] = {0};
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, buf, sizeof buf - 1) > 0) last = atoi(buf);
    close(fd);
  }
  if (last < 0) last = CAP_LAST_CAP;
  return last;
}

static void set_caps(uint64_t eff, uint64_t perm, uint64_t inh) {
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2] = {
    { .effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh },
    { .effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32) },
  };
  if (syscall(SYS_capset, &hdr, data) != 0) die_errno("process.capabilities: capset");
}

void creds_apply_identity(const struct plan *p) {
  int last = cap_last();
  if (p->has_caps) {
    for (int c = 0; c <= last; c++) {
      if (!(p->cap_bounding & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
        die_errno("process.capabilities.bounding: drop capability %d", c);
    }
  }
  if (p->has_user) {
    /* Keep the permitted set across the uid change; the exact sets are installed right after. */
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) die_errno("prctl(PR_SET_KEEPCAPS)");
    /* setgroups is denied in a user namespace whose setgroups file says "deny"; only fail if groups were asked for. */
    if (setgroups((size_t)p->ngroups, p->groups) != 0 && (p->ngroups > 0 || errno != EPERM))
      die_errno("process.user.additionalGids: setgroups");
    if (setresgid((gid_t)p->gid, (gid_t)p->gid, (gid_t)p->gid) != 0) die_errno("process.user.gid: setgid %llu", (unsigned long long)p->gid);
    if (setresuid((uid_t)p->uid, (uid_t)p->uid, (uid_t)p->uid) != 0) die_errno("process.user.uid: setuid %llu", (unsigned long long)p->uid);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) die_errno("prctl(PR_SET_KEEPCAPS)");
    if (p->umask != UINT64_MAX) umask((mode_t)p->umask);
  }
  if (p->has_caps) {
    set_caps(p->cap_effective, p->cap_permitted, p->cap_inheritable);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) die_errno("process.capabilities.ambient: clear");
    for (int c = 0; c <= last; c++) {
      if ((p->cap_ambient & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0)
        die_errno("process.capabilities.ambient: raise capability %d", c);
    }
  }
  if ((p->options & OPT_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die_errno("process.noNewPrivileges");
  if (p->apparmor && p->apparmor[0]) {
    char v[512];
    snprintf(v, sizeof v, "exec %s", p->apparmor);
    if (write_file("/proc/self/attr/apparmor/exec", v) != 0 && write_file("/proc/self/attr/exec", v) != 0)
      die_errno("process.apparmorProfile: set %s", p->apparmor);
  }
  if (p->selinux && p->selinux[0] && write_file("/proc/self/attr/exec", p->selinux) != 0)
    die_errno("process.selinuxLabel: set %s", p->selinux);
}

void creds_load_seccomp(const struct plan *p) {
  if (!p->seccomp_len) return;
  struct sock_fprog prog = { .len = (unsigned short)(p->seccomp_len / 8), .filter = (struct sock_filter *)(void *)p->seccomp };
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned)p->seccomp_flags, &prog) != 0)
    die_errno("linux.seccomp: load filter");
}
