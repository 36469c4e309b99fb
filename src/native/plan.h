/*
 * The plan berth-init executes. TypeScript (src/oci/plan/) decides every value; this side only parses the
 * wire format and makes the syscalls. Wire format: u32 total length, then records of
 * { u32 tag, u32 length, payload }, where a payload is a sequence of fields: u64 (8 bytes, little-endian) or
 * str (u32 length, bytes, NUL). Keep the tag numbers in sync with src/oci/plan/wire.ts.
 */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum plan_tag {
  T_MODE = 1,           /* u64 mode */
  T_OPTIONS = 2,        /* u64 option bits */
  T_CLONE_FLAGS = 3,    /* u64 CLONE_NEW* for the namespaces to create */
  T_JOIN_NS = 4,        /* u64 nstype, str path, str label */
  T_UID_MAP = 5,        /* str uid_map text */
  T_GID_MAP = 6,        /* str gid_map text */
  T_ROOTFS = 7,         /* str absolute host path */
  T_ROOT_PROPAGATION = 8, /* u64 MS_* propagation flags for "/" */
  T_MOUNT = 9,          /* str label, str source, str dest, str fstype, str data, u64 flags, u64 kind,
                           u64 remount flags, u64 propagation flags, u64 mount_setattr flags */
  T_DEVICE = 10,        /* str label, str path, u64 mode(S_IF*|perm), u64 major, u64 minor, u64 uid, u64 gid, u64 bind,
                           u64 requested (1: from linux.devices, a different file already there is an error) */
  T_SYMLINK = 11,       /* str target, str path */
  T_MASK = 12,          /* str path */
  T_READONLY = 13,      /* str path */
  T_SYSCTL = 14,        /* str label, str /proc/sys path, str value */
  T_HOSTNAME = 15,      /* str */
  T_DOMAINNAME = 16,    /* str */
  T_RLIMIT = 17,        /* str label, u64 resource, u64 soft, u64 hard */
  T_OOM_SCORE_ADJ = 18, /* u64 (two's complement) */
  T_USER = 19,          /* u64 uid, u64 gid, u64 umask (UINT64_MAX = unset) */
  T_GROUP = 20,         /* u64 gid (additional) */
  T_CAPS = 21,          /* u64 bounding, effective, permitted, inheritable, ambient */
  T_APPARMOR = 22,      /* str profile */
  T_SELINUX = 23,       /* str label */
  T_SECCOMP = 24,       /* u64 flags, str program (struct sock_filter[]) */
  T_CWD = 25,           /* str */
  T_ARG = 26,           /* str */
  T_ENV = 27,           /* str */
  T_HOOK = 28,          /* u64 phase, str label, str path, u64 timeout seconds (0 none), u64 nargs, str..., u64 nenv, str... */
  T_CONSOLE_SOCKET = 29,/* str path */
  T_CONSOLE_SIZE = 30,  /* u64 rows, u64 cols */
  T_START_SOCKET = 31,  /* str path of the socket `start` connects to */
  T_PRESERVE_FDS = 32,  /* u64 count of fds after the sync fd to pass on as 3.. */
  T_PERSONALITY = 33,   /* u64 */
  T_TIME_OFFSET = 34,   /* str "monotonic|boottime secs nsecs" */
  T_DEVICE_BPF = 35,    /* str cgroup v2 directory, str program (struct bpf_insn[]) */
  T_IOPRIO = 36,        /* u64 ioprio value */
  T_CGROUP_JOIN = 37,   /* str cgroup.procs file this process joins (by writing 0) before it clones */
  T_CGROUP_LEAVE = 38,  /* str cgroup.procs file a foreground parent returns to after the clone */
  T_DETACH = 39,        /* str mount point to unmount lazily with everything below it (MODE_DETACH) */
  T_SCHEDULER = 40,     /* u64 policy, flags, nice (two's complement), priority, runtime, deadline, period */
  T_CPU_AFFINITY = 41,  /* u64 phase (1 initial: at start, 2 final: before execve), str cpu mask (bytes) */
};

/* MODE_DEVICE_BPF: no process; attach the T_DEVICE_BPF program to its cgroup, reply "ok", exit (bpf.h). */
/* MODE_DETACH: no process; unmount each T_DETACH mount point lazily, reply "ok", exit. */
enum plan_mode { MODE_INIT = 1, MODE_EXEC = 2, MODE_DEVICE_BPF = 3, MODE_DETACH = 4 };

enum plan_option {
  OPT_FOREGROUND = 1 << 0,   /* stay as the process's parent, exit with its status */
  OPT_NO_PIVOT = 1 << 1,
  OPT_ROOT_READONLY = 1 << 2,
  OPT_NO_NEW_PRIVS = 1 << 3,
  OPT_TERMINAL = 1 << 4,
  OPT_SETSID = 1 << 5,
  OPT_PATH_LOOKUP = 1 << 6,  /* resolve args[0] through PATH like execvp */
  OPT_HOST_MOUNT_NS = 1 << 7, /* no mount namespace of its own: mounts land in the runtime's, under the rootfs */
  OPT_RUNTIME_HOOKS = 1 << 8, /* prestart/createRuntime hooks: report "mounted", wait for "hooked" before the pivot */
};

enum mount_kind { KIND_DIR = 0, KIND_FILE = 1 };
enum hook_phase { HOOK_CREATE_CONTAINER = 1, HOOK_START_CONTAINER = 2 };

struct mount_op {
  const char *label, *source, *dest, *fstype, *data;
  uint64_t flags, kind, remount, propagation, attr;
};

struct device_op {
  const char *label, *path;
  uint64_t mode, major, minor, uid, gid, bind, requested;
};

struct pair { const char *a, *b, *c; };

struct rlimit_op { const char *label; uint64_t resource, soft, hard; };

struct hook_op {
  uint64_t phase, timeout;
  const char *label, *path;
  const char **argv, **envp; /* NULL-terminated */
};

/*
 * Lists are sized by what the plan holds (the kernel's own limits, such as ARG_MAX and NGROUPS_MAX, are checked
 * by berth-run at create, where the error can name the field). Namespaces, rlimits and time offsets are bounded
 * by their kinds, which berth-run keeps unique.
 */
struct plan {
  uint64_t mode, options, clone_flags;
  struct { uint64_t type; const char *path, *label; } join[16];
  int njoin;
  const char *uid_map, *gid_map, *rootfs;
  uint64_t root_propagation;
  struct mount_op *mounts; int nmounts, cmounts;
  struct device_op *devices; int ndevices, cdevices;
  struct pair *symlinks; int nsymlinks, csymlinks;
  const char **masked; int nmasked, cmasked;
  const char **readonly; int nreadonly, creadonly;
  struct pair *sysctls; int nsysctls, csysctls;
  const char *hostname, *domainname;
  struct rlimit_op rlimits[32]; int nrlimits;
  int has_oom_score_adj; int64_t oom_score_adj;
  int has_user; uint64_t uid, gid, umask;
  gid_t *groups; int ngroups, cgroups;
  int has_caps; uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
  const char *apparmor, *selinux;
  uint64_t seccomp_flags; const unsigned char *seccomp; size_t seccomp_len;
  const char *cwd;
  /* NULL-terminated, with one spare slot in envp for a default HOME. */
  const char **argv; int nargs, cargs;
  const char **envp; int nenv, cenv;
  struct hook_op *hooks; int nhooks, chooks;
  const char *console_socket; uint64_t console_rows, console_cols;
  /* No start socket: `run`, the program starts as soon as the container is created. */
  const char *start_socket;
  const char **cgroup_join; int ncgroup_join, ccgroup_join;
  /* cgroup.procs files a foreground parent moves itself back to once the container process exists. */
  const char **cgroup_leave; int ncgroup_leave, ccgroup_leave;
  uint64_t preserve_fds;
  int has_personality; uint64_t personality;
  const char *time_offsets[4]; int ntime_offsets;
  const char *device_bpf_dir; const unsigned char *device_bpf; size_t device_bpf_len;
  int has_ioprio; uint64_t ioprio;
  int has_scheduler; uint64_t sched[7];
  const unsigned char *affinity[3]; size_t affinity_len[3]; /* by phase */
  /* Mount points MODE_DETACH lazily unmounts (the mounts of a container without its own mount namespace). */
  const char **detach; int ndetach, cdetach;
};

/* Parses buf (kept alive by the caller: strings point into it). Returns 0, or -1 with errbuf filled. */
int plan_parse(unsigned char *buf, size_t len, struct plan *p, char *errbuf, size_t errlen);

#endif
