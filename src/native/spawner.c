/*
 * berth-spawner: starts processes for a long-lived Node process (berth-shim, berthd, any user of the berth-run
 * library), so that Node does not fork(2) itself once per container. A fork copies the caller's page tables:
 * ~1.3 ms for a 50 MB Node process, ~9 ms at 250 MB, on the path of every container start. This process is a
 * few dozen KiB, so its forks cost next to nothing.
 *
 * Started by Node with a control socket on fd 3; it exits when that socket closes (and on its parent's death).
 * Requests, Node → spawner: u32 length (little-endian), then NUL-terminated fields:
 *   "spawn" TAG SOCKET NFDS FD... NARGS ARG...
 *       fork; in the child, fd i (0 ≤ i < NFDS, where fd 3 is skipped: it becomes the sync socket) is Node's fd
 *       FD[i] ("-" for /dev/null), taken with pidfd_getfd(2) from the caller; connect to the unix SOCKET,
 *       send "TAG\n" (how the caller tells its connections apart), make that connection fd 3, exec ARG...
 *   "prime" PATH
 *       fork a child that writes "0" to the cgroup.procs file PATH (a move into the cgroup it is already in)
 *       and exits: it takes the cgroup migration lock, whose first taker after a quiet spell waits for an RCU
 *       grace period, so the container's own joins soon after find it ready. A wrong PATH moves only that
 *       short-lived child.
 * Replies, spawner → Node, lines: "pid TAG PID", then "exit TAG STATUS" (128+N for a signal). A child that
 * cannot get as far as exec writes its reason to stderr and exits 127.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FIELDS 1100
#define MAX_REQUEST (1 << 20)
#define MAX_CHILDREN 4096
#define CONTROL 3

struct child { pid_t pid; char tag[32]; };
static struct child children[MAX_CHILDREN];
static int caller_pidfd = -1;

static void child_fail(const char *what) {
  dprintf(2, "berth-spawner: %s: %s\n", what, strerror(errno));
  _exit(127);
}

/* fd as the caller (our parent) has it, as a new fd here. */
static int take_fd(const char *spec) {
  if (strcmp(spec, "-") == 0) return open("/dev/null", O_RDWR | O_CLOEXEC);
  char *end;
  long n = strtol(spec, &end, 10);
  if (*end || n < 0 || n > 1 << 20) { errno = EBADF; return -1; }
  return (int)syscall(SYS_pidfd_getfd, caller_pidfd, (int)n, 0);
}

static int connect_to(const char *path) {
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof sa.sun_path) { errno = ENAMETOOLONG; return -1; }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return -1;
  return fd;
}

/* In the child: arrange fds 0..n-1 (3 = the sync connection) and exec. Never returns. */
static void exec_child(char **f, int nf) {
  const char *tag = f[1], *sock = f[2];
  int nfds = atoi(f[3]);
  if (nfds < 4 || 4 + nfds >= nf) { errno = EINVAL; child_fail("spawn request"); }
  int nargs = atoi(f[4 + nfds]);
  if (nargs < 1 || 5 + nfds + nargs > nf) { errno = EINVAL; child_fail("spawn request"); }
  char **argv = &f[5 + nfds];
  argv[nargs] = NULL; /* the field after the last arg is the terminator; see read_request */

  int got[256];
  if (nfds > 256) { errno = EINVAL; child_fail("spawn request"); }
  for (int i = 0; i < nfds; i++) {
    if (i == 3) {
      got[i] = connect_to(sock);
      if (got[i] < 0) child_fail("connect to the caller's socket");
      char line[40];
      int len = snprintf(line, sizeof line, "%s\n", tag);
      if (write(got[i], line, (size_t)len) != len) child_fail("greet the caller");
    } else {
      got[i] = take_fd(f[4 + i]);
      if (got[i] < 0) child_fail("take a file descriptor from the caller");
    }
  }
  /* Move them above every target first, then into place: a source may sit where another target goes. */
  for (int i = 0; i < nfds; i++) {
    int high = fcntl(got[i], F_DUPFD_CLOEXEC, 1024);
    if (high < 0) child_fail("dup");
    got[i] = high;
  }
  for (int i = 0; i < nfds; i++) {
    if (dup2(got[i], i) < 0) child_fail("dup2");
  }
  syscall(SYS_close_range, (unsigned)nfds, ~0U, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  execv(argv[0], argv);
  child_fail(argv[0]);
}

static void prime(const char *path) {
  pid_t pid = fork();
  if (pid != 0) return; /* reaped with the others; errors are not worth a report */
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)!write(fd, "0", 1);
    close(fd);
  }
  _exit(0);
}

static void reply(const char *fmt, const char *tag, long value) {
  char line[96];
  int len = snprintf(line, sizeof line, fmt, tag, value);
  /* The caller reads promptly; a failed write means it is gone, and the next read ends us. */
  (void)!write(CONTROL, line, (size_t)len);
}

static void spawn(char **f, int nf) {
  int slot = -1;
  for (int i = 0; i < MAX_CHILDREN; i++) {
    if (children[i].pid == 0) { slot = i; break; }
  }
  if (slot < 0 || nf < 5) {
    reply("exit %s %ld\n", nf > 1 ? f[1] : "?", 127);
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    reply("exit %s %ld\n", f[1], 127);
    return;
  }
  if (pid == 0) exec_child(f, nf);
  children[slot].pid = pid;
  snprintf(children[slot].tag, sizeof children[slot].tag, "%s", f[1]);
  reply("pid %s %ld\n", f[1], pid);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_CHILDREN; i++) {
      if (children[i].pid != pid) continue;
      long code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      reply("exit %s %ld\n", children[i].tag, code);
      children[i].pid = 0;
      break;
    }
  }
}

static int read_full(int fd, void *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = read(fd, (char *)buf + off, len - off);
    if (n == 0) return -1;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    off += (size_t)n;
  }
  return 0;
}

/* One request: its fields point into a buffer that lives until the next request. */
static int read_request(char **fields, int *nf) {
  static char *buf;
  uint32_t len;
  if (read_full(CONTROL, &len, sizeof len) != 0 || len == 0 || len > MAX_REQUEST) return -1;
  free(buf);
  buf = malloc((size_t)len + 1);
  if (!buf || read_full(CONTROL, buf, len) != 0) return -1;
  buf[len] = '\0';
  int n = 0;
  for (uint32_t i = 0; i < len && n < MAX_FIELDS - 1;) {
    fields[n++] = &buf[i];
    i += (uint32_t)strlen(&buf[i]) + 1;
  }
  fields[n] = NULL;
  *nf = n;
  return 0;
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc != 1 || fcntl(CONTROL, F_GETFD) < 0) {
    dprintf(2, "usage: berth-spawner (started by the berth-run library with its control socket on fd 3)\n"
               "Starts processes for a long-lived Node process so that it never forks itself.\n");
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  caller_pidfd = (int)syscall(SYS_pidfd_open, getppid(), 0);
  if (caller_pidfd < 0 || getppid() == 1) {
    dprintf(2, "berth-spawner: pidfd_open of the caller: %s\n", strerror(errno));
    return 1;
  }
  fcntl(CONTROL, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    dprintf(2, "berth-spawner: signalfd: %s\n", strerror(errno));
    return 1;
  }
  static char *fields[MAX_FIELDS];
  for (;;) {
    struct pollfd p[2] = { { .fd = CONTROL, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {}
      reap();
    }
    if (p[0].revents) {
      int nf;
      if (read_request(fields, &nf) != 0) return 0; /* the caller closed the socket: done */
      if (nf >= 1 && strcmp(fields[0], "spawn") == 0) spawn(fields, nf);
      else if (nf == 2 && strcmp(fields[0], "prime") == 0) prime(fields[1]);
    }
  }
}
