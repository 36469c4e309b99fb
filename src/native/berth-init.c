/*
 * berth-init: the only C in berth-run. berth-run (TypeScript) computes a plan and starts this program with a
 * socket on fd 3; this program makes the syscalls a multithreaded Node process cannot make and reports back.
 *
 * Protocol on fd 3, lines of text:
 *   berth-run  → init : <u32 length><plan>           (binary, see plan.h)
 *   init (P)   → run  : "pid <host pid>"             the container process exists
 *   run        → child: "go <state json>"            cgroups set: continue
 *   child      → run  : "mounted"                    (only with prestart/createRuntime hooks) mounts made;
 *   run        → child: "hooked"                     the hooks ran: continue to createContainer and pivot
 *   child      → run  : "created"                    (init mode) set up; waits for `start` on the start socket
 *   child      → start: "started"                    written just before execve; to `run` on fd 3 when the
 *                                                    plan has no start socket (the program starts at once)
 *   anyone     → run  : "error <message>"            then exit 1
 * In exec mode the child sends "started" on fd 3 directly (no start socket).
 *
 * Device-bpf mode (one shot, no process; berth-run waits for it synchronously): berth-run starts this
 * program WITHOUT fd 3 and writes <u32 length><plan> to stdin; the one reply line, "ok" or
 * "error <message>", comes on stdout, then exit 0 or 1. (Node's spawnSync can feed only stdin and read
 * only outputs, so no bidirectional fd 3 is possible there.) Errors before the plan is parsed go to stderr
 * as "berth-init: <message>". With a sync socket on fd 3 the mode works too, replying there.
 */
#define _GNU_SOURCE
#include "bpf.h"
#include "creds.h"
#include "hooks.h"
#include "plan.h"
#include "rootfs.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <linux/close_range.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/*
 * CVE-2019-5736 class: a process in the container could open /proc/<our pid>/exe and overwrite the host
 * binary. We always run from a sealed, anonymous copy, so there is nothing on the host to write to.
 */
static void run_from_sealed_copy(char **argv) {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) die_errno("open /proc/self/exe");
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals >= 0 && (seals & REQUIRED_SEALS) == REQUIRED_SEALS) {
    close(fd);
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) die_errno("stat /proc/self/exe");
  int mfd = memfd_create("berth-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) die_errno("memfd_create");
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(mfd, fd, &off, (size_t)(st.st_size - off));
    if (n <= 0) die_errno("copy berth-init into memfd");
  }
  if (fcntl(mfd, F_ADD_SEALS, REQUIRED_SEALS) != 0) die_errno("seal memfd");
  close(fd);
  fexecve(mfd, argv, environ);
  die_errno("re-exec sealed berth-init");
}

static unsigned char *read_plan(size_t *len) {
  unsigned char hdr[4];
  size_t got = 0;
  while (got < 4) {
    ssize_t n = read(sync_fd, hdr + got, 4 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("read plan header: unexpected end of input");
    got += (size_t)n;
  }
  uint32_t size = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
  if (size > 64u << 20) die("plan too large (%u bytes)", size);
  unsigned char *buf = malloc(size ? size : 1);
  if (!buf) die("out of memory for plan");
  got = 0;
  while (got < size) {
    ssize_t n = read(sync_fd, buf + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("read plan: unexpected end of input");
    got += (size_t)n;
  }
  *len = size;
  return buf;
}

/* sockaddr for paths longer than sun_path: go through an O_PATH fd of the directory. */
static int unix_addr(const char *path, struct sockaddr_un *sa, int *dirfd) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  *dirfd = -1;
  if (strlen(path) < sizeof sa->sun_path) {
    strcpy(sa->sun_path, path);
    return 0;
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *base = strrchr(dir, '/');
  if (!base) return -1;
  *base++ = 0;
  *dirfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (*dirfd < 0) return -1;
  if ((size_t)snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", *dirfd, base) >= sizeof sa->sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

static int connect_unix(const char *path) {
  struct sockaddr_un sa;
  int dirfd;
  if (unix_addr(path, &sa, &dirfd) != 0) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) fd = -1;
  if (dirfd >= 0) close(dirfd);
  return fd;
}

static int listen_unix(const char *path) {
  struct sockaddr_un sa;
  int dirfd;
  if (unix_addr(path, &sa, &dirfd) != 0) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  mode_t old = umask(0177); /* root-only from the moment it exists */
  unlink(sa.sun_path);
  int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  umask(old);
  if (rc != 0 || listen(fd, 4) != 0) fd = -1;
  if (dirfd >= 0) close(dirfd);
  return fd;
}

static void send_fd(int sock, int fd, const char *name) {
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen(name) };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sock, &msg, 0) < 0) die_errno("--console-socket: send pty master");
}

/* The container's /dev/console is its pty, as with runc (only for the container's own init). */
static void mount_console(const char *slave) {
  int fd = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
  if (mount(slave, "/dev/console", NULL, MS_BIND, NULL) != 0) die_errno("process.terminal: bind %s to /dev/console", slave);
}

/* A new pty inside the container; the master goes to whoever listens on --console-socket. */
static void setup_terminal(const struct plan *p, int console) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) die_errno("process.terminal: open /dev/ptmx");
  if (unlockpt(master) != 0) die_errno("process.terminal: unlockpt");
  char name[128];
  if (ptsname_r(master, name, sizeof name) != 0) die_errno("process.terminal: ptsname");
  if (p->console_rows || p->console_cols) {
    struct winsize ws = { .ws_row = (unsigned short)p->console_rows, .ws_col = (unsigned short)p->console_cols };
    if (ioctl(master, TIOCSWINSZ, &ws) != 0) die_errno("process.consoleSize");
  }
  int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) die_errno("process.terminal: open %s", name);
  if (p->has_user && fchown(slave, (uid_t)p->uid, (gid_t)p->gid) != 0 && errno != EPERM) die_errno("process.terminal: chown %s", name);
  if (p->mode == MODE_INIT) mount_console(name);
  send_fd(console, master, name);
  close(master);
  close(console);
  if (setsid() < 0 && errno != EPERM) die_errno("setsid");
  if (ioctl(slave, TIOCSCTTY, 0) != 0) die_errno("process.terminal: set controlling terminal");
  for (int i = 0; i < 3; i++)
    if (dup2(slave, i) < 0) die_errno("process.terminal: dup2");
  close(slave);
}

static const char *env_get(const struct plan *p, const char *key) {
  size_t n = strlen(key);
  for (int i = 0; i < p->nenv; i++)
    if (strncmp(p->envp[i], key, n) == 0 && p->envp[i][n] == '=') return p->envp[i] + n + 1;
  return NULL;
}

/* execvp's search, done up front so that a missing binary is a clear error rather than a failed exec. */
static const char *resolve_exec(const struct plan *p, char *buf, size_t size) {
  const char *arg0 = p->argv[0];
  struct stat st;
  if (strchr(arg0, '/')) {
    if (stat(arg0, &st) != 0) die_errno("exec: \"%s\": stat %s", arg0, arg0);
    if (S_ISDIR(st.st_mode)) die("exec: \"%s\": is a directory", arg0);
    if (access(arg0, X_OK) != 0) die_errno("exec: \"%s\"", arg0);
    return arg0;
  }
  const char *path = env_get(p, "PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  while (*path) {
    const char *colon = strchr(path, ':');
    size_t len = colon ? (size_t)(colon - path) : strlen(path);
    snprintf(buf, size, "%.*s/%s", (int)len, len ? path : ".", arg0);
    if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0) return buf;
    path += len + (colon ? 1 : 0);
  }
  die("exec: \"%s\": executable file not found in $PATH", arg0);
}

/* Like runc: a process without HOME gets its user's home from the container's /etc/passwd, else "/". */
static void default_home(struct plan *p) {
  if (env_get(p, "HOME")) return; /* plan.c keeps a spare slot for it */
  static char home[4200];
  const char *dir = "/";
  static char line[4096];
  FILE *f = fopen("/etc/passwd", "re");
  if (f) {
    while (fgets(line, sizeof line, f)) {
      /* name:password:uid:gid:gecos:home:shell */
      char *field[7] = {0};
      char *cur = line;
      int n = 0;
      while (n < 7 && cur) {
        field[n++] = cur;
        cur = strchr(cur, ':');
        if (cur) *cur++ = 0;
      }
      if (n >= 6 && field[2][0] && strtoull(field[2], NULL, 10) == (p->has_user ? p->uid : 0) && field[5][0]) {
        field[5][strcspn(field[5], "\n")] = 0;
        dir = field[5];
        break;
      }
    }
  }
  snprintf(home, sizeof home, "HOME=%s", dir);
  if (f) fclose(f);
  p->envp[p->nenv++] = home;
  p->envp[p->nenv] = NULL;
}

/* Fds passed with --preserve-fds sit right after the sync fd (4, 5, …) and become 3, 4, … */
static void move_preserved_fds(const struct plan *p) {
  for (uint64_t i = 0; i < p->preserve_fds; i++) {
    if (dup2((int)(4 + i), (int)(3 + i)) < 0) die_errno("--preserve-fds: dup2");
  }
  if (p->preserve_fds) close((int)(3 + p->preserve_fds));
}

/*
 * Whatever else our caller left open must not reach the container (runc closes them too). Done once, first
 * thing, on the host: no seccomp filter can refuse it yet, and /proc is the host's. Everything berth-init
 * opens itself is close-on-exec. close_range needs Linux 5.11 for CLOSE_RANGE_CLOEXEC; older kernels (ENOSYS,
 * EINVAL) and filters that refuse it (EPERM) get the same result through /proc/self/fd.
 */
static void close_inherited_fds(unsigned from) {
  if (syscall(SYS_close_range, from, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  if (errno != ENOSYS && errno != EINVAL && errno != EPERM) die_errno("close_range");
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) die_errno("close inherited fds: open /proc/self/fd");
  struct dirent *e;
  while ((e = readdir(dir))) {
    char *end;
    long fd = strtol(e->d_name, &end, 10);
    if (*end || e->d_name[0] == 0 || fd < (long)from || fd == dirfd(dir)) continue;
    int flags = fcntl((int)fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC) && fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC) != 0)
      die_errno("close inherited fd %ld", fd);
  }
  closedir(dir);
}

/*
 * Everything from credentials to execve; shared by the container's init and exec'd processes. The seccomp
 * filter comes as late as it can: right before execve with no_new_privs, and before the identity change
 * without it (loading a filter then needs CAP_SYS_ADMIN, which the change may drop). In that case the program
 * is looked up before the filter, as root, so that a profile listing only what the workload calls still lets
 * the rest of the setup run; only the identity change and execve run under it.
 */
static void finalize_and_exec(struct plan *p, int console) {
  char exe[4096];
  const char *path = NULL;
  default_home(p);
  creds_apply_limits(p);
  if ((p->options & OPT_TERMINAL) && console >= 0) setup_terminal(p, console);
  else if ((p->options & OPT_SETSID) && setsid() < 0 && errno != EPERM) die_errno("setsid");
  /* As root first; only a directory that root may not enter (root-squashed NFS) waits for the new identity. */
  int chdir_later = 0;
  if (p->cwd && p->cwd[0] && chdir(p->cwd) != 0) {
    if (errno != EACCES && errno != EPERM) die_errno("process.cwd: chdir %s", p->cwd);
    chdir_later = 1;
  }
  move_preserved_fds(p);
  creds_set_affinity(p, 2);
  int nnp = (p->options & OPT_NO_NEW_PRIVS) != 0;
  if (!nnp) {
    if (!chdir_later) path = resolve_exec(p, exe, sizeof exe);
    creds_load_seccomp(p);
  }
  creds_apply_identity(p);
  if (chdir_later && chdir(p->cwd) != 0) die_errno("process.cwd: chdir %s as the container user", p->cwd);
  if (!path) path = resolve_exec(p, exe, sizeof exe);
  if (nnp) creds_load_seccomp(p);
  sync_send("started");
  execve(path, (char *const *)p->argv, (char *const *)p->envp);
  die_errno("exec: \"%s\"", p->argv[0]);
}

static int exit_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

/* The parent's life after the child exists: report it, then either leave or stay and pass on its status. */
/* The pty master sent by the container process over our private socketpair (foreground run without a console socket). */
static int receive_fd(int sock) {
  char name[128], cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { .iov_base = name, .iov_len = sizeof name };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

/*
 * Like `runc run` with a terminal and no console socket: we hold the pty master and relay between it and our
 * own stdin/stdout (in raw mode when stdin is a terminal) until the container exits.
 */
static int relay_terminal(pid_t child, int master) {
  struct termios saved;
  int raw = isatty(0) && tcgetattr(0, &saved) == 0;
  if (raw) {
    struct termios t = saved;
    cfmakeraw(&t);
    tcsetattr(0, TCSANOW, &t);
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
  }
  int in_open = 1, status = 0;
  char buf[8192];
  for (;;) {
    struct pollfd fds[2] = { { .fd = master, .events = POLLIN }, { .fd = in_open ? 0 : -1, .events = POLLIN } };
    int n = poll(fds, 2, 100);
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(master, buf, sizeof buf);
      if (r <= 0) break; /* EIO: every holder of the slave is gone */
      if (write_all(1, buf, (size_t)r) != 0) break;
    }
    if (n > 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r <= 0) {
        /* End of our input: send the terminal's end-of-file character, as a typed Ctrl-D would. */
        in_open = 0;
        write_all(master, "\x04", 1);
      } else if (write_all(master, buf, (size_t)r) != 0) {
        break;
      }
    }
    if (waitpid(child, &status, WNOHANG) == child) {
      /* Drain what the container wrote before it exited. */
      ssize_t r;
      while ((r = read(master, buf, sizeof buf)) > 0) write_all(1, buf, (size_t)r);
      if (raw) tcsetattr(0, TCSANOW, &saved);
      return exit_status(status);
    }
  }
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
  if (raw) tcsetattr(0, TCSANOW, &saved);
  return exit_status(status);
}

/* A foreground parent only waits: it goes back to where it came from, out of the container's limits and `ps`. */
static void leave_cgroups(const struct plan *p) {
  if (!(p->options & OPT_FOREGROUND)) return;
  for (int i = 0; i < p->ncgroup_leave; i++) (void)write_file(p->cgroup_leave[i], "0");
}

/* The parent's life after the child exists: report it, then either leave or stay and pass on its status. */
static void parent_after_fork(const struct plan *p, pid_t child, int pty_socket) {
  if (sync_send("pid %d", (int)child) != 0) {
    kill(child, SIGKILL);
    die_errno("report pid");
  }
  close(sync_fd);
  sync_fd = -1;
  if (!(p->options & OPT_FOREGROUND)) _exit(0);
  /* Off the critical path: the pid is reported first. */
  leave_cgroups(p);
  if (pty_socket >= 0) {
    int master = receive_fd(pty_socket);
    close(pty_socket);
    /* No master means the container failed before its terminal existed; its status says the rest. */
    if (master >= 0) _exit(relay_terminal(child, master));
  }
  /* Signals meant for the container are sent to it by berth-run; we only wait. */
  int status;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) _exit(1);
  }
  _exit(exit_status(status));
}

static void write_id_map(pid_t pid, const char *file, const char *map) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  if (write_file(path, map) != 0) {
    kill(pid, SIGKILL);
    die_errno("linux.%s: write %s", strcmp(file, "uid_map") == 0 ? "uidMappings" : "gidMappings", path);
  }
}

static void join_namespaces(const struct plan *p) {
  for (int i = 0; i < p->njoin; i++) {
    int fd = open(p->join[i].path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die_errno("%s: open %s", p->join[i].label, p->join[i].path);
    if (setns(fd, (int)p->join[i].type) != 0) die_errno("%s: setns %s", p->join[i].label, p->join[i].path);
    close(fd);
  }
}

/*
 * Writing 0 to cgroup.procs moves the writer. Done here rather than by berth-run: one process writing its own
 * pid in a row pays the cgroup v1 RCU grace period once (~0.3 ms for ten hierarchies), where berth-run's
 * writes through Node's thread pool took ~3 ms. Before any clone, so every child starts inside.
 */
static void join_cgroups(const struct plan *p) {
  for (int i = 0; i < p->ncgroup_join; i++) {
    if (write_file(p->cgroup_join[i], "0") != 0) die_errno("linux.cgroupsPath: join %s", p->cgroup_join[i]);
  }
}

static void set_time_offsets(const struct plan *p) {
  if (!p->ntime_offsets) return;
  if (unshare(CLONE_NEWTIME) != 0) die_errno("linux.timeOffsets: unshare time namespace");
  for (int i = 0; i < p->ntime_offsets; i++)
    if (write_file("/proc/self/timens_offsets", p->time_offsets[i]) != 0) die_errno("linux.timeOffsets: %s", p->time_offsets[i]);
}

static void run_init(struct plan *p) {
  int console = -1, listener = -1;
  if (p->console_socket && (console = connect_unix(p->console_socket)) < 0)
    die_errno("--console-socket: connect %s", p->console_socket);
  int pty_socket = -1;
  if ((p->options & OPT_TERMINAL) && !p->console_socket) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die_errno("process.terminal: socketpair");
    pty_socket = sv[0];
    console = sv[1];
  }
  if (p->start_socket && (listener = listen_unix(p->start_socket)) < 0) die_errno("listen on %s", p->start_socket);
  join_cgroups(p);
  join_namespaces(p);
  set_time_offsets(p);
  uint64_t flags = p->clone_flags & ~(uint64_t)CLONE_NEWTIME;
  pid_t child = (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (child < 0) die_errno("linux.namespaces: clone");
  if (child > 0) {
    if (flags & CLONE_NEWUSER) {
      /* gid_map before anything else that checks ids; we are privileged, so setgroups stays allowed. */
      if (p->gid_map) write_id_map(child, "gid_map", p->gid_map);
      if (p->uid_map) write_id_map(child, "uid_map", p->uid_map);
    }
    if (console >= 0) close(console);
    parent_after_fork(p, child, pty_socket);
  }
  if (pty_socket >= 0) close(pty_socket);

  /* The container's first process. Keep /proc/<pid> of this setup phase unreadable from inside. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* The state carries the annotations, which Kubernetes allows up to 256 KiB of. */
  size_t line_size = 8u << 20;
  char *line = malloc(line_size);
  if (!line) die("out of memory for the state");
  if (read_line(sync_fd, line, line_size) < 0 || strncmp(line, "go ", 3) != 0) _exit(1);
  const char *state = line + 3;
  if (flags & CLONE_NEWUSER) {
    if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) die_errno("linux.uidMappings: become root in the user namespace (is 0 mapped?)");
  }
  rootfs_prepare(p);
  /* runtime.md: prestart and createRuntime hooks run once the environment (mounts included) exists, before
   * the pivot; berth-run runs them in the runtime's namespaces while we wait. */
  if (p->options & OPT_RUNTIME_HOOKS) {
    char reply[64];
    if (sync_send("mounted") != 0 || read_line(sync_fd, reply, sizeof reply) < 0 || strcmp(reply, "hooked") != 0) _exit(1);
  }
  hooks_run(p, HOOK_CREATE_CONTAINER, state);
  rootfs_enter(p);
  if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) != 0) die_errno("hostname");
  if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) != 0) die_errno("domainname");
  rootfs_finish(p);
  /* runc hands the pty master over at create, so that the shim holds it before the program starts. */
  if (p->options & OPT_TERMINAL) {
    setup_terminal(p, console);
    console = -1;
  }

  if (sync_send("created") != 0) _exit(1);
  if (listener >= 0) {
    close(sync_fd);
    sync_fd = -1;
    int conn;
    while ((conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0) {
      if (errno != EINTR) die_errno("wait for start");
    }
    close(listener);
    /* From here on, errors go to the `start` command that connected. */
    sync_fd = conn;
  }
  /* Without a start socket (`run`) the program starts at once; "started" still goes to berth-run. */
  hooks_run(p, HOOK_START_CONTAINER, state);
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  finalize_and_exec(p, console);
}

static void run_exec(struct plan *p) {
  int console = -1;
  if (p->console_socket && (console = connect_unix(p->console_socket)) < 0)
    die_errno("--console-socket: connect %s", p->console_socket);
  join_cgroups(p);
  join_namespaces(p);
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) != 0) die_errno("pipe");
  pid_t child = fork();
  if (child < 0) die_errno("fork");
  if (child > 0) {
    close(gate[0]);
    /* The child waits for the gate so that "pid" always precedes anything it reports. */
    if (sync_send("pid %d", (int)child) != 0) { kill(child, SIGKILL); _exit(1); }
    close(gate[1]);
    close(sync_fd);
    sync_fd = -1;
    if (console >= 0) close(console);
    if (!(p->options & OPT_FOREGROUND)) _exit(0);
    leave_cgroups(p);
    int status;
    while (waitpid(child, &status, 0) < 0) {
      if (errno != EINTR) _exit(1);
    }
    _exit(exit_status(status));
  }
  close(gate[1]);
  char c;
  while (read(gate[0], &c, 1) < 0 && errno == EINTR) {}
  close(gate[0]);
  /* A container without a mount namespace of its own lives in a chroot of the host's: so do its execs. */
  if (p->rootfs && (chdir(p->rootfs) != 0 || chroot(".") != 0 || chdir("/") != 0)) die_errno("root.path: chroot %s", p->rootfs);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  finalize_and_exec(p, console);
}

int main(int argc, char **argv) {
  /* Without fd 3 only a one-shot mode can run (device-bpf): plan on stdin, reply on stdout. */
  int oneshot = fcntl(3, F_GETFD) < 0;
  if (oneshot && isatty(0)) {
    dprintf(2, "berth-init: this program is started by berth-run with a plan on fd 3; it has no command line.\n");
    return 2;
  }
  run_from_sealed_copy(argv);
  /*
   * `--prime-cgroup FILE`: the cgroup.procs file of the cgroup we were started in. Moving ourselves there (a
   * no-op) takes the cgroup migration lock, whose first taker after a quiet spell waits for an RCU grace
   * period (~7 ms on this kind of host). Taken now, that wait overlaps with berth-run writing the state and
   * making the cgroup, and our joins into the container's cgroups find the lock ready. A wrong file only
   * moves this process, which joins the container's cgroups next anyway; errors are ignored.
   */
  if (argc == 3 && strcmp(argv[1], "--prime-cgroup") == 0) (void)write_file(argv[2], "0");
  if (oneshot) {
    /* Read the plan from stdin as fd 3; errors until the mode is known must not vanish into stdin (a
     * socket nobody reads from): with its write side shut they fall back to stderr. */
    signal(SIGPIPE, SIG_IGN);
    if (dup2(0, 3) < 0) die_errno("dup stdin");
    shutdown(3, SHUT_WR);
  }
  size_t len;
  unsigned char *buf = read_plan(&len);
  static struct plan plan;
  static char err[512];
  if (plan_parse(buf, len, &plan, err, sizeof err) != 0) die("%s", err);
  if (plan.mode == MODE_DEVICE_BPF || plan.mode == MODE_DETACH) {
    if (oneshot) {
      close(3);
      sync_fd = 1;
    }
    if (plan.mode == MODE_DETACH) rootfs_detach(&plan);
    device_bpf_run(&plan);
  }
  if (oneshot) die("plan: mode %llu needs the sync socket on fd 3", (unsigned long long)plan.mode);
  close_inherited_fds((unsigned)(4 + plan.preserve_fds));
  creds_set_affinity(&plan, 1);
  /* Move the sync socket out of the way of preserved fds and keep it from leaking into the container. */
  int high = fcntl(3, F_DUPFD_CLOEXEC, (int)(5 + plan.preserve_fds));
  if (high < 0) die_errno("dup sync fd");
  sync_fd = high;
  if (!plan.preserve_fds) close(3);
  if (plan.mode == MODE_INIT) run_init(&plan);
  else run_exec(&plan);
  return 1;
}
