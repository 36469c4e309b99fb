/* Parser for the plan wire format described in plan.h. Bounds-checked: a malformed plan is an error, never a crash. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cursor { unsigned char *p, *end; int bad; };

static uint64_t take_u64(struct cursor *c) {
  uint64_t v = 0;
  if (c->end - c->p < 8) { c->bad = 1; return 0; }
  for (int i = 7; i >= 0; i--) v = (v << 8) | c->p[i];
  c->p += 8;
  return v;
}

/* Strings are NUL-terminated on the wire, so they can be used in place. `len` (optional) excludes the NUL. */
static const char *take_str_len(struct cursor *c, size_t *len) {
  uint32_t n;
  if (c->end - c->p < 4) { c->bad = 1; return ""; }
  n = (uint32_t)c->p[0] | (uint32_t)c->p[1] << 8 | (uint32_t)c->p[2] << 16 | (uint32_t)c->p[3] << 24;
  c->p += 4;
  if (n == 0 || (size_t)(c->end - c->p) < n || c->p[n - 1] != 0) { c->bad = 1; return ""; }
  const char *s = (const char *)c->p;
  c->p += n;
  if (len) *len = n - 1;
  return s;
}

static const char *take_str(struct cursor *c) { return take_str_len(c, NULL); }

/* Appends to a list that grows as needed; `spare` slots stay free after the last entry (for a NULL end). */
static int grow(void **arr, int count, int *cap, size_t size, int spare) {
  if (count + spare < *cap) return 0;
  int want = *cap ? *cap * 2 : 16;
  while (want <= count + spare) want *= 2;
  void *bigger = realloc(*arr, (size_t)want * size);
  if (!bigger) return -1;
  *arr = bigger;
  *cap = want;
  return 0;
}

#define PUSH_SPARE(arr, count, cap, spare, value)                                  \
  do {                                                                           \
    if (grow((void **)&(arr), (count), &(cap), sizeof *(arr), (spare)) != 0) goto no_memory; \
    (arr)[(count)++] = (value);                                                  \
  } while (0)
#define PUSH(arr, count, cap, value) PUSH_SPARE(arr, count, cap, 0, value)

/* A NULL-terminated list of `n` strings taken from the record (hook args and env). */
static const char **take_list(struct cursor *c, uint64_t n) {
  if (n > (uint64_t)(c->end - c->p) / 5) { c->bad = 1; n = 0; } /* each string takes at least 5 bytes */
  const char **list = calloc((size_t)n + 1, sizeof *list);
  if (!list) { c->bad = 1; return NULL; }
  for (uint64_t i = 0; i < n; i++) list[i] = take_str(c);
  return list;
}

int plan_parse(unsigned char *buf, size_t len, struct plan *p, char *err, size_t errlen) {
  unsigned char *at = buf, *end = buf + len;
  uint32_t tag = 0;
  memset(p, 0, sizeof(*p));
  p->umask = UINT64_MAX;
  while (at < end) {
    if (end - at < 8) { snprintf(err, errlen, "plan: truncated record header"); return -1; }
    tag = (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
    uint32_t n = (uint32_t)at[4] | (uint32_t)at[5] << 8 | (uint32_t)at[6] << 16 | (uint32_t)at[7] << 24;
    at += 8;
    if ((size_t)(end - at) < n) { snprintf(err, errlen, "plan: record %u overruns the plan", tag); return -1; }
    struct cursor c = { at, at + n, 0 };
    at += n;
    switch (tag) {
    case T_MODE: p->mode = take_u64(&c); break;
    case T_OPTIONS: p->options = take_u64(&c); break;
    case T_CLONE_FLAGS: p->clone_flags = take_u64(&c); break;
    case T_JOIN_NS:
      if (p->njoin >= 16) goto too_many;
      p->join[p->njoin].type = take_u64(&c);
      p->join[p->njoin].path = take_str(&c);
      p->join[p->njoin].label = take_str(&c);
      p->njoin++;
      break;
    case T_UID_MAP: p->uid_map = take_str(&c); break;
    case T_GID_MAP: p->gid_map = take_str(&c); break;
    case T_ROOTFS: p->rootfs = take_str(&c); break;
    case T_ROOT_PROPAGATION: p->root_propagation = take_u64(&c); break;
    case T_MOUNT: {
      struct mount_op m;
      m.label = take_str(&c); m.source = take_str(&c); m.dest = take_str(&c);
      m.fstype = take_str(&c); m.data = take_str(&c);
      m.flags = take_u64(&c); m.kind = take_u64(&c); m.remount = take_u64(&c);
      m.propagation = take_u64(&c); m.attr = take_u64(&c);
      PUSH(p->mounts, p->nmounts, p->cmounts, m);
      break;
    }
    case T_DEVICE: {
      struct device_op d;
      d.label = take_str(&c); d.path = take_str(&c);
      d.mode = take_u64(&c); d.major = take_u64(&c); d.minor = take_u64(&c);
      d.uid = take_u64(&c); d.gid = take_u64(&c); d.bind = take_u64(&c); d.requested = take_u64(&c);
      PUSH(p->devices, p->ndevices, p->cdevices, d);
      break;
    }
    case T_SYMLINK: {
      struct pair s = { take_str(&c), take_str(&c), NULL };
      PUSH(p->symlinks, p->nsymlinks, p->csymlinks, s);
      break;
    }
    case T_MASK: PUSH(p->masked, p->nmasked, p->cmasked, take_str(&c)); break;
    case T_READONLY: PUSH(p->readonly, p->nreadonly, p->creadonly, take_str(&c)); break;
    case T_SYSCTL: {
      struct pair s;
      s.a = take_str(&c); s.b = take_str(&c); s.c = take_str(&c);
      PUSH(p->sysctls, p->nsysctls, p->csysctls, s);
      break;
    }
    case T_HOSTNAME: p->hostname = take_str(&c); break;
    case T_DOMAINNAME: p->domainname = take_str(&c); break;
    case T_RLIMIT: {
      struct rlimit_op r;
      r.label = take_str(&c); r.resource = take_u64(&c); r.soft = take_u64(&c); r.hard = take_u64(&c);
      if (p->nrlimits >= 32) goto too_many;
      p->rlimits[p->nrlimits++] = r;
      break;
    }
    case T_OOM_SCORE_ADJ: p->has_oom_score_adj = 1; p->oom_score_adj = (int64_t)take_u64(&c); break;
    case T_USER: p->has_user = 1; p->uid = take_u64(&c); p->gid = take_u64(&c); p->umask = take_u64(&c); break;
    case T_GROUP: PUSH(p->groups, p->ngroups, p->cgroups, (gid_t)take_u64(&c)); break;
    case T_CAPS:
      p->has_caps = 1;
      p->cap_bounding = take_u64(&c); p->cap_effective = take_u64(&c); p->cap_permitted = take_u64(&c);
      p->cap_inheritable = take_u64(&c); p->cap_ambient = take_u64(&c);
      break;
    case T_APPARMOR: p->apparmor = take_str(&c); break;
    case T_SELINUX: p->selinux = take_str(&c); break;
    case T_SECCOMP:
      p->seccomp_flags = take_u64(&c);
      p->seccomp = (const unsigned char *)take_str_len(&c, &p->seccomp_len);
      break;
    case T_CWD: p->cwd = take_str(&c); break;
    case T_ARG: PUSH_SPARE(p->argv, p->nargs, p->cargs, 1, take_str(&c)); break;
    case T_ENV: PUSH_SPARE(p->envp, p->nenv, p->cenv, 2, take_str(&c)); break;
    case T_HOOK: {
      struct hook_op h;
      h.phase = take_u64(&c); h.label = take_str(&c); h.path = take_str(&c); h.timeout = take_u64(&c);
      h.argv = take_list(&c, take_u64(&c));
      h.envp = take_list(&c, take_u64(&c));
      PUSH(p->hooks, p->nhooks, p->chooks, h);
      break;
    }
    case T_CONSOLE_SOCKET: p->console_socket = take_str(&c); break;
    case T_CONSOLE_SIZE: p->console_rows = take_u64(&c); p->console_cols = take_u64(&c); break;
    case T_START_SOCKET: p->start_socket = take_str(&c); break;
    case T_PRESERVE_FDS: p->preserve_fds = take_u64(&c); break;
    case T_PERSONALITY: p->has_personality = 1; p->personality = take_u64(&c); break;
    case T_TIME_OFFSET:
      if (p->ntime_offsets >= 4) goto too_many;
      p->time_offsets[p->ntime_offsets++] = take_str(&c);
      break;
    case T_DEVICE_BPF:
      p->device_bpf_dir = take_str(&c);
      p->device_bpf = (const unsigned char *)take_str_len(&c, &p->device_bpf_len);
      break;
    case T_IOPRIO: p->has_ioprio = 1; p->ioprio = take_u64(&c); break;
    case T_SCHEDULER:
      p->has_scheduler = 1;
      for (int i = 0; i < 7; i++) p->sched[i] = take_u64(&c);
      break;
    case T_CPU_AFFINITY: {
      uint64_t phase = take_u64(&c);
      if (phase != 1 && phase != 2) { c.bad = 1; break; }
      p->affinity[phase] = (const unsigned char *)take_str_len(&c, &p->affinity_len[phase]);
      break;
    }
    case T_CGROUP_JOIN: PUSH(p->cgroup_join, p->ncgroup_join, p->ccgroup_join, take_str(&c)); break;
    case T_CGROUP_LEAVE: PUSH(p->cgroup_leave, p->ncgroup_leave, p->ccgroup_leave, take_str(&c)); break;
    case T_DETACH: PUSH(p->detach, p->ndetach, p->cdetach, take_str(&c)); break;
    default:
      snprintf(err, errlen, "plan: unknown record tag %u (berth-init older than berth-run?)", tag);
      return -1;
    }
    if (c.bad) { snprintf(err, errlen, "plan: malformed record %u", tag); return -1; }
  }
  /* Both lists exist even when empty, so that the NULL ends (and HOME's spare slot) can be written. */
  if (grow((void **)&p->argv, p->nargs, &p->cargs, sizeof *p->argv, 1) != 0) goto no_memory;
  if (grow((void **)&p->envp, p->nenv, &p->cenv, sizeof *p->envp, 2) != 0) goto no_memory;
  p->argv[p->nargs] = NULL;
  p->envp[p->nenv] = NULL;
  if (p->mode == MODE_DETACH) return 0;
  if (p->mode == MODE_DEVICE_BPF) {
    if (!p->device_bpf_dir) { snprintf(err, errlen, "plan: device-bpf mode without a device program record"); return -1; }
    return 0;
  }
  if (p->mode != MODE_INIT && p->mode != MODE_EXEC) { snprintf(err, errlen, "plan: missing mode"); return -1; }
  if (p->nargs == 0) { snprintf(err, errlen, "plan: no process args"); return -1; }
  return 0;
too_many:
  snprintf(err, errlen, "plan: too many entries in record %u", tag);
  return -1;
no_memory:
  snprintf(err, errlen, "plan: out of memory in record %u", tag);
  return -1;
}
