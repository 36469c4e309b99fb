/**
 * berthd's RuntimeDefault seccomp profile: an allowlist in the spirit of moby's and containerd's defaults.
 * Everything not listed fails with EPERM; syscalls that only make sense with a capability are allowed only when
 * the container's bounding set holds it (the kernel would refuse them anyway, but each is also attack surface);
 * syscalls that escape the container's namespaces or touch host-global state (kexec, swap, keyrings, modules
 * without CAP_SYS_MODULE, io_uring, open_by_handle_at without CAP_DAC_READ_SEARCH) are never allowed otherwise.
 * Names are those of Linux 6.1; newer syscalls get ENOSYS from the runtime, so libc falls back.
 */
import { BerthError } from '../../common/errors';
import type { Seccomp, SeccompArch, SeccompSyscall } from '../../oci';

const words = (s: string): string[] => s.trim().split(/\s+/);

/** Allowed on every architecture (the generic syscall table, aarch64's). */
const COMMON = words(`
  accept accept4 adjtimex bind brk capget capset chdir clock_adjtime clock_getres clock_gettime clock_nanosleep
  close close_range connect copy_file_range dup dup3 epoll_create1 epoll_ctl epoll_pwait epoll_pwait2 eventfd2
  execve execveat exit exit_group faccessat faccessat2 fadvise64 fallocate fanotify_mark fchdir fchmod fchmodat
  fchown fchownat fcntl fdatasync fgetxattr flistxattr flock fremovexattr fsetxattr fstat fstatfs fsync ftruncate
  futex futex_waitv get_robust_list getcpu getcwd getdents64 getegid geteuid getgid getgroups getitimer
  getpeername getpgid getpid getppid getpriority getrandom getresgid getresuid getrlimit getrusage getsid
  getsockname getsockopt gettid gettimeofday getuid getxattr inotify_add_watch inotify_init1 inotify_rm_watch
  io_cancel io_destroy io_getevents io_pgetevents io_setup io_submit ioctl ioprio_get ioprio_set kill
  landlock_add_rule landlock_create_ruleset landlock_restrict_self lgetxattr linkat listen listxattr llistxattr
  lremovexattr lseek lsetxattr madvise membarrier memfd_create memfd_secret mincore mkdirat mknodat mlock mlock2
  mlockall mmap mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink mremap msgctl
  msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat openat openat2
  pidfd_open pidfd_send_signal pipe2 pkey_alloc pkey_free pkey_mprotect ppoll prctl pread64 preadv preadv2
  prlimit64 process_mrelease pselect6 ptrace pwrite64 pwritev pwritev2 read readahead readlinkat readv recvfrom
  recvmmsg recvmsg remap_file_pages removexattr renameat renameat2 restart_syscall rseq rt_sigaction
  rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo
  sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr sched_getparam
  sched_getscheduler sched_rr_get_interval sched_setaffinity sched_setattr sched_setparam sched_setscheduler
  sched_yield seccomp semctl semget semop semtimedop sendfile sendmmsg sendmsg sendto set_robust_list
  set_tid_address setfsgid setfsuid setgid setgroups setitimer setpgid setpriority setregid setresgid setresuid
  setreuid setrlimit setsid setsockopt setuid setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd4
  socket socketpair splice statfs statx symlinkat sync sync_file_range syncfs sysinfo tee tgkill timer_create
  timer_delete timer_getoverrun timer_gettime timer_settime timerfd_create timerfd_gettime timerfd_settime times
  tkill truncate umask uname unlinkat utimensat vmsplice wait4 waitid write writev
`);

/** x86_64's (and x32's, i386's) older syscalls that the generic table replaced with *at and *2 forms. */
const X86 = words(`
  access alarm arch_prctl chmod chown creat dup2 epoll_create epoll_wait eventfd fork futimesat get_thread_area
  getdents getpgrp inotify_init lchown link lstat mkdir mknod modify_ldt open pause pipe poll readlink rename
  rmdir select set_thread_area signalfd stat symlink time unlink utime utimes vfork
`);

/** i386's 32-bit-specific forms (16/32-bit ids, 64-bit offsets, time64), for 32-bit programs on x86_64. */
const I386 = words(`
  _llseek _newselect chown32 clock_adjtime64 clock_getres_time64 clock_gettime64 clock_nanosleep_time64
  fadvise64_64 fchown32 fcntl64 fstat64 fstatat64 fstatfs64 ftruncate64 futex_time64 getegid32 geteuid32
  getgid32 getgroups32 getresgid32 getresuid32 getuid32 io_pgetevents_time64 ipc lchown32 lstat64 mmap2
  mq_timedreceive_time64 mq_timedsend_time64 ppoll_time64 pselect6_time64 recvmmsg_time64
  rt_sigtimedwait_time64 sched_rr_get_interval_time64 semtimedop_time64 sendfile64 setfsgid32 setfsuid32
  setgid32 setgroups32 setregid32 setresgid32 setresuid32 setreuid32 setuid32 sigaction sigpending sigprocmask
  sigreturn sigsuspend socketcall stat64 statfs64 timer_gettime64 timer_settime64 timerfd_gettime64
  timerfd_settime64 truncate64 ugetrlimit utimensat_time64 waitpid
`);

/** Syscalls allowed only with a capability in the bounding set; `x86` lists the names only x86 has. */
const BY_CAP: Readonly<Record<string, { all: string[]; x86?: string[] }>> = {
  CAP_SYS_ADMIN: {
    all: words(`bpf fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr move_mount
      open_tree perf_event_open pivot_root quotactl quotactl_fd setdomainname sethostname setns syslog umount2 unshare`),
    x86: ['umount'],
  },
  CAP_SYS_BOOT: { all: ['reboot'] },
  CAP_SYS_CHROOT: { all: ['chroot'] },
  CAP_SYS_MODULE: { all: ['delete_module', 'init_module', 'finit_module'] },
  CAP_SYS_PACCT: { all: ['acct'] },
  CAP_SYS_PTRACE: { all: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'userfaultfd'] },
  CAP_SYS_RAWIO: { all: [], x86: ['iopl', 'ioperm'] },
  CAP_SYS_TIME: { all: ['settimeofday', 'clock_settime'], x86: ['stime', 'clock_settime64'] },
  CAP_SYS_TTY_CONFIG: { all: ['vhangup'] },
  CAP_SYS_NICE: { all: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node', 'migrate_pages', 'move_pages'] },
  CAP_SYSLOG: { all: ['syslog'] },
  CAP_BPF: { all: ['bpf'] },
  CAP_PERFMON: { all: ['perf_event_open'] },
  CAP_DAC_READ_SEARCH: { all: ['open_by_handle_at'] },
};

/**
 * Node's process.arch → the architectures a profile covers. 32-bit ARM is left out on aarch64: berth-run has no
 * table for it, so listing it would only earn a warning (such processes get the bad-arch action either way).
 */
const ARCHES: Readonly<Record<string, SeccompArch[]>> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64'],
};

/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET: new namespaces need CAP_SYS_ADMIN. */
const CLONE_NEW_MASK = 0x7e020000;
const ENOSYS = 38;
/** personality(2) values programs use: PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE (+ PER_LINUX32), and the query 0xffffffff. */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** The RuntimeDefault profile for `arch` (process.arch) and a container whose bounding set is `caps`. */
export function defaultSeccompProfile(arch: string, caps: readonly string[]): Seccomp {
  const architectures = ARCHES[arch];
  if (!architectures) throw new BerthError('Unimplemented', `no RuntimeDefault seccomp profile for architecture ${arch}`);
  const x86 = arch === 'x64';
  const allowed = new Set([...COMMON, ...(x86 ? [...X86, ...I386] : [])]);
  for (const [cap, names] of Object.entries(BY_CAP)) {
    if (!caps.includes(cap)) continue;
    names.all.forEach((n) => allowed.add(n));
    if (x86) names.x86?.forEach((n) => allowed.add(n));
  }
  const syscalls: SeccompSyscall[] = [{ names: [...allowed].sort(), action: 'SCMP_ACT_ALLOW' }];
  for (const value of PERSONALITIES) {
    syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] });
  }
  if (caps.includes('CAP_SYS_ADMIN')) {
    syscalls.push({ names: ['clone', 'clone3'], action: 'SCMP_ACT_ALLOW' });
  } else {
    // clone's flags are in a register and can be checked; clone3's are in memory and cannot, so clone3 says
    // ENOSYS and libc falls back to clone.
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NEW_MASK, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: [...architectures], syscalls };
}
