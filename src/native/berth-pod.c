/*
 * berth-pod: the host side of a pod sandbox without a pause process, for berthd. A multithreaded Node process
 * can neither unshare(2) nor mount(2), so each berthd step is one exec of this program doing one batch:
 *
 *   pin      new net/ipc/uts (and user) namespaces, pinned by bind mounts as `ip netns add` does for net,
 *            so containers join them by path and no process has to keep them alive
 *   unpin    the reverse, idempotent
 *   overlay, tmpfs, umount   the pod's mounts (rootfs, /dev/shm) and their removal
 *   pidns    a tiny PID 1 holding a shared PID namespace (a PID namespace cannot be pinned by a bind mount:
 *            it is unusable once its init has exited)
 *   connect  a TCP connection to the pod's loopback, relayed over stdin/stdout (port forwarding: Node
 *            cannot enter a network namespace)
 *
 * Output (stdout): facts, then "ok"; or one line "error <what>: <reason>" and exit status 1. A failing pin
 * undoes what it did; the other subcommands have nothing half-done to undo (one mount each).
 *
 * Propagation (pin): DIR becomes a mount of its own, in a shared peer group of its own: a self bind mount,
 * made private (leaving the peer group the bind joined, which is that of the mount DIR lives on, e.g. a shared
 * /run) and then shared (a new group). So the namespace mounts under DIR are not copied into every mount
 * namespace that shares /run with us, while mount namespaces cloned from ours later (containers, services
 * with PrivateTmp) hold peer or slave copies, which our unmount at unpin reaches: with a private DIR those
 * copies would stay behind and keep the namespaces alive. This is what `ip netns` does for /run/netns, per pod
 * directory here. unpin removes that self bind too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: berth-pod SUBCOMMAND ARGS...\n"
    "Host side of berthd's pod sandboxes. Prints facts, then \"ok\", or \"error <what>: <reason>\" (exit 1).\n"
    "Every path must be absolute.\n"
    "  pin DIR [--net] [--ipc] [--uts] [--hostname NAME] [--user --uid-map C:H:N... --gid-map C:H:N...]\n"
    "      new namespaces bind-mounted on DIR/net, DIR/ipc, DIR/uts (DIR/user: a user namespace with these\n"
    "      mappings, owning the others); the hostname is set in the new UTS namespace. Undone on failure.\n"
    "  unpin DIR\n"
    "      unmount and remove DIR/{net,ipc,uts,user} (missing ones are fine), then DIR if empty\n"
    "  overlay TARGET --lower A:B:C [--upper U --work W] [--ro]\n"
    "      mkdir -p TARGET, mount an overlay (A is the top lower layer)\n"
    "  tmpfs TARGET [--size BYTES] [--mode OCTAL]\n"
    "      mkdir -p TARGET, mount a nosuid,nodev,noexec tmpfs (default 64 MiB, mode 1777: a pod's /dev/shm)\n"
    "  umount TARGET...\n"
    "      lazy unmount of each (one not mounted, or missing, is fine)\n"
    "  pidns DIR\n"
    "      start a holder process, PID 1 of a new PID namespace, detached from the caller (exits on SIGTERM\n"
    "      or SIGKILL); its host pid goes to DIR/pidns.pid; prints \"pid N\"\n"
    "  connect NETNS PORT\n"
    "      enter the network namespace file NETNS, connect to 127.0.0.1:PORT (else [::1]:PORT) and relay\n"
    "      stdin to the connection and the connection to stdout until both directions have ended; stdout\n"
    "      carries the data, so \"error connect: <reason>\" goes to stderr (exit 1)\n";

/* "error WHAT: strerror(err)"; returns the exit status. */
static int fail(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("error ", stdout);
  vprintf(fmt, ap);
  va_end(ap);
  printf(": %s\n", strerror(err));
  return 1;
}

/* "error WHAT: WHY" for what is not an errno (bad arguments, limits). */
static int bad(const char *what, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("error %s: ", what);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  return 1;
}

static int ok(void) {
  puts("ok");
  return 0;
}

/* Paths are absolute: the caller's cwd means nothing to berthd, and overlay may chdir below. */
static int absolute(const char *what, const char *p) {
  if (p && p[0] == '/') return 1;
  bad(what, "'%s' is not an absolute path", p ? p : "");
  return 0;
}

/* mkdir -p; *made (when given) says whether the last component was created here. */
static int mkdir_p(const char *path, mode_t mode, int *made) {
  char buf[PATH_MAX];
  if (made) *made = 0;
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  size_t len = strlen(buf);
  while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != 0) continue;
    char c = *p;
    *p = 0;
    if (mkdir(buf, mode) == 0) {
      if (made && c == 0) *made = 1;
    } else {
      struct stat st;
      if (errno != EEXIST || stat(buf, &st) != 0) return -1;
      if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
      }
    }
    if (c == 0) return 0;
    *p = c;
  }
}

/* ------------------------------------------------------------------------------------------- pin / unpin */

struct nstype {
  const char *name;
  int flag;
};
/* The user namespace first: unshare(2) creates it before the others, which it then owns. */
static const struct nstype NS[] = {{"user", CLONE_NEWUSER}, {"net", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}};
#define NNS 4

/* Linux accepts up to 340 lines in uid_map/gid_map. */
#define MAX_MAP_LINES 340
struct idmap {
  char text[MAX_MAP_LINES * 33 + 1];
  size_t len;
  int lines;
};

static int add_mapping(struct idmap *m, const char *opt, const char *spec) {
  unsigned long v[3];
  const char *s = spec;
  for (int i = 0; i < 3; i++) {
    char *end;
    errno = 0;
    v[i] = strtoul(s, &end, 10);
    if (errno || end == s || *s == '-' || v[i] > 0xffffffffUL || (i < 2 ? *end != ':' : *end != 0))
      return bad(opt, "'%s' is not CONTAINER:HOST:COUNT", spec);
    s = end + 1;
  }
  if (v[2] == 0 || v[0] + v[2] - 1 > 0xffffffffUL || v[1] + v[2] - 1 > 0xffffffffUL)
    return bad(opt, "'%s': empty or out-of-range", spec);
  if (m->lines == MAX_MAP_LINES) return bad(opt, "more than %d mappings", MAX_MAP_LINES);
  m->len += (size_t)snprintf(m->text + m->len, sizeof m->text - m->len, "%lu %lu %lu\n", v[0], v[1], v[2]);
  m->lines++;
  return 0;
}

static int write_map(pid_t pid, const char *file, const struct idmap *m) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  /* One write: the kernel takes a map in a single write(2) only. */
  ssize_t n = write(fd, m->text, m->len);
  int err = errno;
  close(fd);
  if (n != (ssize_t)m->len) {
    errno = n < 0 ? err : EIO;
    return -1;
  }
  return 0;
}

/* What the namespace child reports: the step that failed (0: none) and its errno. */
struct report {
  int step;
  int err;
};
enum { STEP_NONE, STEP_UNSHARE, STEP_HOSTNAME };

/* In the child: unshare, set the hostname, report, then wait for the parent's mounts (its end closing). */
static void ns_child(int flags, const char *hostname, int report_fd, int go_fd) {
  struct report r = {STEP_NONE, 0};
  if (unshare(flags) != 0) r = (struct report){STEP_UNSHARE, errno};
  else if (hostname && sethostname(hostname, strlen(hostname)) != 0) r = (struct report){STEP_HOSTNAME, errno};
  (void)!write(report_fd, &r, sizeof r);
  close(report_fd);
  char c;
  while (read(go_fd, &c, 1) < 0 && errno == EINTR) {}
  _exit(r.step ? 1 : 0);
}

/* Lazy unmount of everything stacked on path: 0 when nothing (more) is mounted there or path is missing. */
static int umount_all(const char *path) {
  for (int i = 0; i < 16; i++) {
    if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) != 0) return errno == EINVAL || errno == ENOENT ? 0 : -1;
  }
  errno = EBUSY;
  return -1;
}

static int cmd_pin(int argc, char **argv) {
  const char *dir = NULL, *hostname = NULL;
  int want = 0;
  static struct idmap uids, gids;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--net")) want |= CLONE_NEWNET;
    else if (!strcmp(a, "--ipc")) want |= CLONE_NEWIPC;
    else if (!strcmp(a, "--uts")) want |= CLONE_NEWUTS;
    else if (!strcmp(a, "--user")) want |= CLONE_NEWUSER;
    else if (!strcmp(a, "--hostname") || !strcmp(a, "--uid-map") || !strcmp(a, "--gid-map")) {
      if (i + 1 == argc) return bad("pin", "%s needs a value", a);
      const char *v = argv[++i];
      if (a[2] == 'h') hostname = v;
      else if (add_mapping(a[2] == 'u' ? &uids : &gids, a[2] == 'u' ? "pin --uid-map" : "pin --gid-map", v)) return 1;
    } else if (a[0] == '-') return bad("pin", "unknown option '%s'", a);
    else if (dir) return bad("pin", "unexpected argument '%s'", a);
    else dir = a;
  }
  if (!dir) return bad("pin", "missing DIR (usage: berth-pod pin DIR [--net] [--ipc] [--uts] ...)");
  if (!absolute("pin", dir)) return 1;
  if (!want) return bad("pin", "nothing to pin: give --net, --ipc, --uts or --user");
  if (hostname && !(want & CLONE_NEWUTS)) return bad("pin", "--hostname needs --uts");
  if (hostname && (!*hostname || strlen(hostname) > 64)) return bad("pin", "hostname must be 1 to 64 bytes");
  /* A user namespace's maps can be written once, by a process inside or just above it: only now. */
  if ((want & CLONE_NEWUSER) && (!uids.lines || !gids.lines)) return bad("pin", "--user needs --uid-map and --gid-map");
  if (!(want & CLONE_NEWUSER) && (uids.lines || gids.lines)) return bad("pin", "--uid-map and --gid-map need --user");

  char path[NNS][PATH_MAX];
  int created[NNS] = {0}, mounted[NNS] = {0};
  int made_dir = 0, self_bound = 0, rc = 1;
  pid_t child = -1;
  int go[2] = {-1, -1}, rep[2] = {-1, -1};
  for (int i = 0; i < NNS; i++) {
    if (snprintf(path[i], PATH_MAX, "%s/%s", dir, NS[i].name) >= PATH_MAX) return fail(ENAMETOOLONG, "pin %s", dir);
  }

  if (mkdir_p(dir, 0755, &made_dir) != 0) return fail(errno, "pin mkdir %s", dir);
  /* See the top of this file: a mount of its own, in a shared peer group of its own. EINVAL: not a mount yet. */
  if (mount(NULL, dir, NULL, MS_PRIVATE, NULL) != 0) {
    if (errno != EINVAL) {
      fail(errno, "pin make-private %s", dir);
      goto undo;
    }
    if (mount(dir, dir, NULL, MS_BIND, NULL) != 0) {
      fail(errno, "pin bind %s onto itself", dir);
      goto undo;
    }
    self_bound = 1;
    if (mount(NULL, dir, NULL, MS_PRIVATE, NULL) != 0) {
      fail(errno, "pin make-private %s", dir);
      goto undo;
    }
  }
  if (mount(NULL, dir, NULL, MS_SHARED, NULL) != 0) {
    fail(errno, "pin make-shared %s", dir);
    goto undo;
  }

  for (int i = 0; i < NNS; i++) {
    if (!(want & NS[i].flag)) continue;
    int fd = open(path[i], O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0) {
      fail(errno, "pin create %s", path[i]);
      goto undo;
    }
    close(fd);
    created[i] = 1;
  }

  if (pipe2(rep, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) {
    fail(errno, "pin pipe");
    goto undo;
  }
  fflush(stdout);
  child = fork();
  if (child < 0) {
    fail(errno, "pin fork");
    goto undo;
  }
  if (child == 0) {
    close(rep[0]);
    close(go[1]);
    ns_child(want, hostname, rep[1], go[0]);
  }
  close(rep[1]);
  close(go[0]);
  rep[1] = go[0] = -1;
  struct report r;
  ssize_t n;
  while ((n = read(rep[0], &r, sizeof r)) < 0 && errno == EINTR) {}
  if (n != (ssize_t)sizeof r) {
    bad("pin", "the namespace child died before reporting");
    goto undo;
  }
  if (r.step == STEP_UNSHARE) {
    fail(r.err, "pin unshare");
    goto undo;
  }
  if (r.step == STEP_HOSTNAME) {
    fail(r.err, "pin sethostname");
    goto undo;
  }
  if (want & CLONE_NEWUSER) {
    if (write_map(child, "uid_map", &uids) != 0) {
      fail(errno, "pin uid_map");
      goto undo;
    }
    if (write_map(child, "gid_map", &gids) != 0) {
      fail(errno, "pin gid_map");
      goto undo;
    }
  }
  for (int i = 0; i < NNS; i++) {
    if (!created[i]) continue;
    char src[64];
    snprintf(src, sizeof src, "/proc/%d/ns/%s", (int)child, NS[i].name);
    if (mount(src, path[i], NULL, MS_BIND, NULL) != 0) {
      fail(errno, "pin bind %s onto %s", src, path[i]);
      goto undo;
    }
    mounted[i] = 1;
  }
  rc = 0;

undo:
  /* The child exits when its end of the go pipe sees EOF; reap it before saying anything final. */
  if (go[1] >= 0) close(go[1]);
  if (go[0] >= 0) close(go[0]);
  if (rep[0] >= 0) close(rep[0]);
  if (rep[1] >= 0) close(rep[1]);
  if (child > 0) {
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
  }
  if (rc == 0) return ok();
  for (int i = NNS - 1; i >= 0; i--) {
    if (mounted[i]) umount2(path[i], MNT_DETACH);
    if (created[i]) unlink(path[i]);
  }
  if (self_bound) umount2(dir, MNT_DETACH);
  if (made_dir) rmdir(dir);
  return 1;
}

static int cmd_unpin(int argc, char **argv) {
  if (argc < 1) return bad("unpin", "missing DIR (usage: berth-pod unpin DIR)");
  if (argc > 1) return bad("unpin", "unexpected argument '%s'", argv[1]);
  const char *dir = argv[0];
  if (!absolute("unpin", dir)) return 1;
  for (int i = NNS - 1; i >= 0; i--) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, NS[i].name) >= (int)sizeof path) return fail(ENAMETOOLONG, "unpin %s", dir);
    if (umount_all(path) != 0) return fail(errno, "unpin umount %s", path);
    if (unlink(path) != 0 && errno != ENOENT) return fail(errno, "unpin unlink %s", path);
  }
  struct stat st, up;
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s/..", dir);
  if (stat(dir, &st) != 0) return errno == ENOENT ? ok() : fail(errno, "unpin %s", dir);
  /*
   * pin's self bind: DIR is a mount of the file system it lives on. Unmounting it hides nothing (it shows
   * the same directory). A different file system mounted on DIR is not ours to remove.
   */
  if (stat(parent, &up) == 0 && st.st_dev == up.st_dev && umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL)
    return fail(errno, "unpin umount %s", dir);
  if (rmdir(dir) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT) return fail(errno, "unpin rmdir %s", dir);
  return ok();
}

/* ------------------------------------------------------------------------------------- overlay / tmpfs */

#define MAX_LOWERS 500

/* Characters the legacy mount(2) option string cannot carry in a path (',' separates options, ':' layers). */
static int plain_path(const char *what, const char *p) {
  if (!absolute(what, p)) return 0;
  if (strpbrk(p, ",:\\")) {
    bad(what, "'%s' contains ',', ':' or '\\', which overlay options cannot carry", p);
    return 0;
  }
  return 1;
}

/* p relative to dir (dir a directory prefix of p, or "" for /): "." for dir itself. */
static const char *relative_to(const char *p, size_t dirlen) {
  if (p[dirlen] == 0) return ".";
  return p + dirlen + 1;
}

static int under(const char *p, const char *dir, size_t dirlen) {
  return strncmp(p, dir, dirlen) == 0 && (p[dirlen] == '/' || p[dirlen] == 0);
}

static int overlay_data(char *out, size_t cap, char **lowers, int n, const char *upper, const char *work, const char *common, size_t clen) {
  size_t len = 0;
  int w = snprintf(out, cap, "lowerdir=");
  len += (size_t)w;
  for (int i = 0; i < n; i++) {
    const char *l = common ? relative_to(lowers[i], clen) : lowers[i];
    w = snprintf(out + len, len < cap ? cap - len : 0, "%s%s", i ? ":" : "", l);
    len += (size_t)w;
  }
  if (upper) {
    const char *u = common && under(upper, common, clen) ? relative_to(upper, clen) : upper;
    const char *k = common && under(work, common, clen) ? relative_to(work, clen) : work;
    w = snprintf(out + len, len < cap ? cap - len : 0, ",upperdir=%s,workdir=%s", u, k);
    len += (size_t)w;
  }
  return (int)len;
}

static int cmd_overlay(int argc, char **argv) {
  const char *target = NULL, *lower = NULL, *upper = NULL, *work = NULL;
  unsigned long flags = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--ro")) flags |= MS_RDONLY;
    else if (!strcmp(a, "--lower") || !strcmp(a, "--upper") || !strcmp(a, "--work")) {
      if (i + 1 == argc) return bad("overlay", "%s needs a value", a);
      const char *v = argv[++i];
      if (a[2] == 'l') lower = v;
      else if (a[2] == 'u') upper = v;
      else work = v;
    } else if (a[0] == '-') return bad("overlay", "unknown option '%s'", a);
    else if (target) return bad("overlay", "unexpected argument '%s'", a);
    else target = a;
  }
  if (!target) return bad("overlay", "missing TARGET (usage: berth-pod overlay TARGET --lower A:B [--upper U --work W] [--ro])");
  if (!absolute("overlay", target)) return 1;
  if (!lower || !*lower) return bad("overlay", "missing --lower");
  if (!upper != !work) return bad("overlay", "--upper and --work go together");
  if (upper && (!plain_path("overlay --upper", upper) || !plain_path("overlay --work", work))) return 1;

  static char *lowers[MAX_LOWERS];
  static char lowerbuf[1 << 16];
  if (snprintf(lowerbuf, sizeof lowerbuf, "%s", lower) >= (int)sizeof lowerbuf) return bad("overlay", "--lower is too long");
  int n = 0;
  for (char *save = NULL, *t = strtok_r(lowerbuf, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
    if (n == MAX_LOWERS) return bad("overlay", "more than %d lower dirs", MAX_LOWERS);
    if (!plain_path("overlay --lower", t)) return 1;
    size_t l = strlen(t);
    while (l > 1 && t[l - 1] == '/') t[--l] = 0; /* so that the common prefix below ends at a component */
    lowers[n++] = t;
  }
  if (n == 0) return bad("overlay", "missing --lower");

  long page = sysconf(_SC_PAGESIZE);
  static char data[1 << 17];
  int len = overlay_data(data, sizeof data, lowers, n, upper, work, NULL, 0);
  if (len + 1 > page) {
    /*
     * mount(2) copies one page of options. As containerd does, name the layers relative to their common
     * parent and mount from there: overlay resolves relative paths against the mounting process's cwd.
     */
    char common[PATH_MAX];
    snprintf(common, sizeof common, "%s", lowers[0]);
    size_t clen = strlen(common);
    for (int i = 1; i < n; i++) {
      while (clen > 0 && !under(lowers[i], common, clen)) {
        while (clen > 0 && common[clen - 1] != '/') clen--;
        if (clen > 0) clen--; /* drop the '/' too: common is "" for / */
        common[clen] = 0;
      }
    }
    if (n == 1 && clen > 0) { /* one long lower: relative to its parent */
      while (clen > 0 && common[clen - 1] != '/') clen--;
      if (clen > 0) clen--;
      common[clen] = 0;
    }
    len = overlay_data(data, sizeof data, lowers, n, upper, work, common, clen);
    if (len + 1 > page)
      return bad("overlay", "mount options are %d bytes even relative to %s, over the %ld-byte limit of mount(2): too many or too long lower dirs", len, clen ? common : "/", page);
    if (chdir(clen ? common : "/") != 0) return fail(errno, "overlay chdir %s", clen ? common : "/");
  }
  if (mkdir_p(target, 0755, NULL) != 0) return fail(errno, "overlay mkdir %s", target);
  if (mount("overlay", target, "overlay", flags, data) != 0) return fail(errno, "overlay mount %s", target);
  return ok();
}

static int cmd_tmpfs(int argc, char **argv) {
  const char *target = NULL;
  unsigned long long size = 64ULL << 20;
  unsigned long mode = 01777;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--size") || !strcmp(a, "--mode")) {
      if (i + 1 == argc) return bad("tmpfs", "%s needs a value", a);
      const char *v = argv[++i];
      char *end;
      errno = 0;
      if (a[2] == 's') {
        size = strtoull(v, &end, 10);
        if (errno || end == v || *end || *v == '-' || size == 0) return bad("tmpfs", "--size '%s' is not a positive number of bytes", v);
      } else {
        mode = strtoul(v, &end, 8);
        if (errno || end == v || *end || *v == '-' || mode > 07777) return bad("tmpfs", "--mode '%s' is not an octal mode", v);
      }
    } else if (a[0] == '-') return bad("tmpfs", "unknown option '%s'", a);
    else if (target) return bad("tmpfs", "unexpected argument '%s'", a);
    else target = a;
  }
  if (!target) return bad("tmpfs", "missing TARGET (usage: berth-pod tmpfs TARGET [--size BYTES] [--mode OCTAL])");
  if (!absolute("tmpfs", target)) return 1;
  char data[64];
  snprintf(data, sizeof data, "mode=%lo,size=%llu", mode, size);
  if (mkdir_p(target, 0755, NULL) != 0) return fail(errno, "tmpfs mkdir %s", target);
  if (mount("shm", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data) != 0) return fail(errno, "tmpfs mount %s", target);
  return ok();
}

static int cmd_umount(int argc, char **argv) {
  if (argc < 1) return bad("umount", "missing TARGET (usage: berth-pod umount TARGET...)");
  for (int i = 0; i < argc; i++) {
    if (!absolute("umount", argv[i])) return 1;
  }
  /* One unmount each: what is stacked below is the caller's (say, a volume under the rootfs). */
  for (int i = 0; i < argc; i++) {
    if (umount2(argv[i], MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT)
      return fail(errno, "umount %s", argv[i]);
  }
  return ok();
}

/* ----------------------------------------------------------------------------------------------- pidns */

static void holder_term(int sig) {
  (void)sig;
  _exit(0);
}

static void holder_wake(int sig) {
  (void)sig;
}

/* One report to the pidns caller: 'P' the holder's host pid, 'I' its pid inside, 'E' an errno. */
struct hmsg {
  int tag;
  int value;
};

/* PID 1 of the pod's PID namespace: reaps the orphans that land on it; its exit kills the namespace. */
static void holder(int report_fd) {
  prctl(PR_SET_NAME, "berth-pidns");
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  /* The caller reads our stdout to its end: keeping it would hang the caller for the pod's lifetime. */
  if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 || chdir("/") != 0) {
    struct hmsg m = {'E', errno};
    (void)!write(report_fd, &m, sizeof m);
    _exit(1);
  }
  /*
   * Signals reach a namespace's init only through a handler (SIGKILL aside), even from the host: without
   * one, SIGTERM would do nothing. SIGCHLD needs a handler too, or sigsuspend would not return for it; it
   * stays blocked except inside sigsuspend, so an exit between the reaping and the wait is not missed.
   */
  struct sigaction term = {.sa_handler = holder_term}, wake = {.sa_handler = holder_wake, .sa_flags = SA_NOCLDSTOP};
  sigemptyset(&term.sa_mask);
  sigemptyset(&wake.sa_mask);
  sigaction(SIGTERM, &term, NULL);
  sigaction(SIGCHLD, &wake, NULL);
  sigset_t block, wait_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigprocmask(SIG_BLOCK, &block, &wait_mask);
  sigdelset(&wait_mask, SIGCHLD);
  /* Ready (handlers in place) only now: a SIGTERM right after the caller's "ok" must work. */
  struct hmsg m = {'I', (int)getpid()};
  (void)!write(report_fd, &m, sizeof m);
  syscall(SYS_close_range, 3U, ~0U, 0);
  for (;;) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    sigsuspend(&wait_mask);
  }
}

static int cmd_pidns(int argc, char **argv) {
  if (argc < 1) return bad("pidns", "missing DIR (usage: berth-pod pidns DIR)");
  if (argc > 1) return bad("pidns", "unexpected argument '%s'", argv[1]);
  const char *dir = argv[0];
  if (!absolute("pidns", dir)) return 1;
  char file[PATH_MAX], tmp[PATH_MAX];
  if (snprintf(file, sizeof file, "%s/pidns.pid", dir) >= (int)sizeof file ||
      snprintf(tmp, sizeof tmp, "%s/.pidns.pid.%d", dir, (int)getpid()) >= (int)sizeof tmp)
    return fail(ENAMETOOLONG, "pidns %s", dir);
  if (mkdir_p(dir, 0755, NULL) != 0) return fail(errno, "pidns mkdir %s", dir);
  if (access(file, F_OK) == 0) return fail(EEXIST, "pidns %s", file);

  int rep[2];
  if (pipe2(rep, O_CLOEXEC) != 0) return fail(errno, "pidns pipe");
  fflush(stdout);
  pid_t mid = fork();
  if (mid < 0) return fail(errno, "pidns fork");
  if (mid == 0) {
    /* The middle process: a new session (no signals meant for the caller's process group or terminal), then
       the holder as the first process of a new PID namespace; our exit hands it to init or a subreaper. */
    close(rep[0]);
    struct hmsg m = {'P', 0};
    pid_t h = -1;
    if (setsid() < 0 || unshare(CLONE_NEWPID) != 0 || (h = fork()) < 0) m = (struct hmsg){'E', errno};
    if (h == 0) holder(rep[1]);
    if (h > 0) m.value = (int)h;
    (void)!write(rep[1], &m, sizeof m);
    _exit(m.tag == 'E');
  }
  close(rep[1]);
  while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {}
  /* Up to two reports, in either order; EOF once the middle has exited and the holder is ready (or dead). */
  pid_t host_pid = -1;
  int inside = -1, err = 0;
  for (;;) {
    struct hmsg m;
    ssize_t n = read(rep[0], &m, sizeof m);
    if (n < 0 && errno == EINTR) continue;
    if (n != (ssize_t)sizeof m) break;
    if (m.tag == 'P') host_pid = m.value;
    else if (m.tag == 'I') inside = m.value;
    else err = m.value;
  }
  close(rep[0]);
  if (err) {
    if (host_pid > 0) kill(host_pid, SIGKILL);
    return fail(err, "pidns start the holder");
  }
  if (host_pid <= 0) return bad("pidns", "the holder process did not start");
  if (inside != 1) {
    kill(host_pid, SIGKILL);
    return bad("pidns", inside < 0 ? "the holder died before it was ready" : "the holder is not PID 1 of its namespace");
  }
  /* Atomic, and never over another holder's file: a temp file linked into place. */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  char line[32];
  int len = snprintf(line, sizeof line, "%d\n", (int)host_pid);
  int werr = 0;
  if (fd < 0 || write(fd, line, (size_t)len) != len || fsync(fd) != 0) werr = errno ? errno : EIO;
  if (fd >= 0) close(fd);
  if (!werr && link(tmp, file) != 0) werr = errno;
  unlink(tmp);
  if (werr) {
    kill(host_pid, SIGKILL);
    return fail(werr, "pidns write %s", file);
  }
  printf("pid %d\n", (int)host_pid);
  return ok();
}

/* --------------------------------------------------------------------------------------------- connect */

/* stdout is the relayed data here: errors go to stderr, in the same "error <what>: <reason>" form. */
static int connect_fail(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("error ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (err) fprintf(stderr, ": %s", strerror(err));
  fputc('\n', stderr);
  return 1;
}

/* IPv4 loopback first, then IPv6 (a server may listen on ::1 only); *err gets the IPv4 failure. */
static int connect_loopback(unsigned port, int *err) {
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_LOOPBACK)}};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a4, sizeof a4) == 0) return fd;
  *err = errno;
  if (fd >= 0) close(fd);
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a6, sizeof a6) == 0) return fd;
  if (fd >= 0) close(fd);
  return -1;
}

/* One direction of the relay: what was read from `from` waits in buf until `to` has taken it. */
struct pump {
  int from, to;
  int eof;  /* `from` has ended */
  int done; /* and all of it was written, `to` shut down */
  size_t len, off;
  char buf[65536];
};

/* Moves what it can without blocking; -1 with errno on a failure of the connection. */
static int pump_step(struct pump *p, short from_events) {
  if (!p->eof && p->len == 0 && (from_events & (POLLIN | POLLHUP | POLLERR))) {
    ssize_t n = read(p->from, p->buf, sizeof p->buf);
    if (n > 0) {
      p->len = (size_t)n;
      p->off = 0;
    } else if (n == 0) {
      p->eof = 1;
    } else if (errno != EAGAIN && errno != EINTR) {
      return -1;
    }
  }
  while (p->off < p->len) {
    ssize_t n = write(p->to, p->buf + p->off, p->len - p->off);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return 0;
      return -1;
    }
    p->off += (size_t)n;
  }
  p->len = p->off = 0;
  return 0;
}

static int cmd_connect(int argc, char **argv) {
  if (argc != 2) return connect_fail(0, "connect: usage: berth-pod connect NETNS PORT");
  const char *netns = argv[0];
  char *end;
  errno = 0;
  unsigned long port = strtoul(argv[1], &end, 10);
  if (errno || end == argv[1] || *end || argv[1][0] == '-' || port < 1 || port > 65535) return connect_fail(0, "connect: '%s' is not a port", argv[1]);
  if (netns[0] != '/') return connect_fail(0, "connect: '%s' is not an absolute path", netns);
  int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return connect_fail(errno, "connect: open %s", netns);
  if (setns(nsfd, CLONE_NEWNET) != 0) return connect_fail(errno, "connect: setns %s", netns);
  close(nsfd);

  int err = 0;
  int sock = connect_loopback((unsigned)port, &err);
  if (sock < 0) return connect_fail(err, "connect");

  /* A peer gone is an EPIPE from write(), not a signal that kills us before we can say so. */
  signal(SIGPIPE, SIG_IGN);
  for (int fd = 0; fd <= 1; fd++) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
  static struct pump up, down;
  up.from = 0;
  up.to = sock;
  down.from = sock;
  down.to = 1;
  while (!up.done || !down.done) {
    struct pump *ps[2] = {&up, &down};
    struct pollfd pfd[2][2];
    for (int i = 0; i < 2; i++) {
      struct pump *p = ps[i];
      /* Read only into an empty buffer, write only what waits: each side sets the other's pace. */
      pfd[i][0] = (struct pollfd){.fd = !p->done && !p->eof && p->len == 0 ? p->from : -1, .events = POLLIN};
      pfd[i][1] = (struct pollfd){.fd = !p->done && p->off < p->len ? p->to : -1, .events = POLLOUT};
    }
    if (poll(&pfd[0][0], 4, -1) < 0) {
      if (errno == EINTR) continue;
      return connect_fail(errno, "connect: poll");
    }
    for (int i = 0; i < 2; i++) {
      struct pump *p = ps[i];
      if (p->done) continue;
      if (pump_step(p, pfd[i][0].revents) != 0) {
        /* Our reader (berthd) stopped reading: that direction is over, what is left there is dropped. */
        if (p == &down && errno == EPIPE) p->eof = 1, p->len = p->off = 0;
        else return connect_fail(errno, "connect: relay %s", p == &up ? "to the connection" : "from the connection");
      }
      if (p->eof && p->len == 0) {
        p->done = 1;
        /* Half-close: the server sees our end of input and can still answer. */
        if (p == &up) shutdown(sock, SHUT_WR);
        else close(1);
      }
    }
  }
  close(sock);
  return 0;
}

/* ------------------------------------------------------------------------------------------------ main */

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(USAGE, stdout);
      return 0;
    }
  }
  if (argc < 2) {
    fputs(USAGE, stderr);
    return bad("usage", "no subcommand (see berth-pod --help)");
  }
  const char *cmd = argv[1];
  int n = argc - 2;
  char **args = argv + 2;
  if (!strcmp(cmd, "pin")) return cmd_pin(n, args);
  if (!strcmp(cmd, "unpin")) return cmd_unpin(n, args);
  if (!strcmp(cmd, "overlay")) return cmd_overlay(n, args);
  if (!strcmp(cmd, "tmpfs")) return cmd_tmpfs(n, args);
  if (!strcmp(cmd, "umount")) return cmd_umount(n, args);
  if (!strcmp(cmd, "pidns")) return cmd_pidns(n, args);
  if (!strcmp(cmd, "connect")) return cmd_connect(n, args);
  return bad("usage", "unknown subcommand '%s' (see berth-pod --help)", cmd);
}
