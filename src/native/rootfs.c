#define _GNU_SOURCE
#include "rootfs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int rootfd = -1;

/* Flags the kernel locks on a mount (nosuid, nodev, …) must be repeated on a bind remount. */
static unsigned long locked_flags(const char *target) {
  struct statvfs st;
  unsigned long f = 0;
  if (statvfs(target, &st) != 0) return 0;
  if (st.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) f |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

static int bind_remount(const char *target, unsigned long flags) {
  if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags, NULL) == 0) return 0;
  if (errno != EPERM) return -1;
  return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags | locked_flags(target), NULL);
}

static void do_mount(const struct mount_op *m) {
  char target[64];
  int fd = open_in_root(rootfd, m->dest, 1, m->kind == KIND_FILE);
  if (fd < 0) die_errno("%s: cannot create mount point %s in the rootfs", m->label, m->dest);
  fd_path(fd, target, sizeof target);
  const char *source = m->source[0] ? m->source : m->fstype;
  if (mount(source, target, m->fstype[0] ? m->fstype : NULL, m->flags, m->data[0] ? m->data : NULL) != 0)
    die_errno("%s: mount %s on %s (type %s)", m->label, source, m->dest, m->fstype[0] ? m->fstype : "bind");
  /* The fd refers to the covered directory; reopen to get the new mount on top of it. */
  close(fd);
  fd = open_in_root(rootfd, m->dest, 0, 0);
  if (fd < 0) die_errno("%s: reopen %s", m->label, m->dest);
  fd_path(fd, target, sizeof target);
  if (m->remount && bind_remount(target, m->remount) != 0) die_errno("%s: remount %s with its options", m->label, m->dest);
  if (m->attr) {
    /* Low 32 bits: attributes to set; high 32 bits: attributes to clear. */
    struct mount_attr attr = { .attr_set = m->attr & 0xffffffffu, .attr_clr = m->attr >> 32 };
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
      die_errno("%s: set recursive attributes on %s", m->label, m->dest);
  }
  if (m->propagation && mount(NULL, target, NULL, m->propagation, NULL) != 0)
    die_errno("%s: set propagation of %s", m->label, m->dest);
  close(fd);
}

static void make_device(const struct device_op *d) {
  char target[64];
  if (d->bind) {
    /* In a user namespace mknod is not allowed: bind the host's node instead, as runc does. */
    int fd = open_in_root(rootfd, d->path, 1, 1);
    if (fd < 0) die_errno("%s: create %s", d->label, d->path);
    /* The node at the same path on the host, as runc binds it. */
    const char *host = d->path;
    if (mount(host, fd_path(fd, target, sizeof target), NULL, MS_BIND, NULL) != 0) die_errno("%s: bind %s", d->label, host);
    close(fd);
    return;
  }
  /* Make the parent, then mknod relative to it: the name itself must not be a symlink. */
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", d->path);
  char *name = strrchr(parent, '/');
  if (!name || !name[1]) die("%s: bad device path %s", d->label, d->path);
  *name++ = 0;
  int pfd = open_in_root(rootfd, parent[0] ? parent : "/", 1, 0);
  if (pfd < 0) die_errno("%s: create parent of %s", d->label, d->path);
  int dir = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    char buf[64];
    dir = open(fd_path(pfd, buf, sizeof buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (dir < 0) die_errno("%s: open parent of %s", d->label, d->path);
  struct stat old;
  int same = 0;
  if (fstatat(dir, name, &old, AT_SYMLINK_NOFOLLOW) == 0) {
    same = (old.st_mode & S_IFMT) == (d->mode & S_IFMT) && (S_ISFIFO(old.st_mode) || old.st_rdev == makedev(d->major, d->minor));
    /* config-linux: a file already at the path that is not the requested device is an error. The defaults
     * replace whatever the image had there, as they always did. */
    if (!same && d->requested) die("%s: %s already exists in the rootfs and is not that device", d->label, d->path);
    if (!same) unlinkat(dir, name, 0);
  }
  if (!same && mknodat(dir, name, (mode_t)d->mode, makedev(d->major, d->minor)) != 0) die_errno("%s: mknod %s", d->label, d->path);
  /* mknod is subject to the umask; the spec's fileMode is exact. */
  if (fchmodat(dir, name, (mode_t)(d->mode & 07777), 0) != 0) die_errno("%s: chmod %s", d->label, d->path);
  if (fchownat(dir, name, (uid_t)d->uid, (gid_t)d->gid, AT_SYMLINK_NOFOLLOW) != 0) die_errno("%s: chown %s", d->label, d->path);
  close(dir);
  close(pfd);
}

static void make_symlink(const struct pair *s) {
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", s->b);
  char *name = strrchr(parent, '/');
  if (!name) die("bad symlink path %s", s->b);
  *name++ = 0;
  int pfd = open_in_root(rootfd, parent[0] ? parent : "/", 1, 0);
  if (pfd < 0) die_errno("create parent of %s", s->b);
  char buf[64];
  int dir = open(fd_path(pfd, buf, sizeof buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) die_errno("open parent of %s", s->b);
  if (symlinkat(s->a, dir, name) != 0 && errno != EEXIST) die_errno("symlink %s -> %s", s->b, s->a);
  close(dir);
  close(pfd);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_mountinfo(char *s) {
  char *out = s;
  while (*s) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
      *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      s += 4;
    } else {
      *out++ = *s++;
    }
  }
  *out = 0;
}

/*
 * pivot_root refuses a new root whose parent mount, or the current root's mount, is shared, and a bind of a path
 * on an unbindable mount fails. So in our own namespace, the mount that holds the rootfs (the topmost one whose
 * mount point is the longest prefix of it) and "/" are made private first when they are either; the requested
 * propagation goes onto the new root after the pivot. Other mounts keep theirs (rshared bidirectional mounts).
 */
static void make_pivot_parents_private(const char *rootfs) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) die_errno("root.path: read /proc/self/mountinfo");
  char line[8192], holder[4096] = "";
  size_t holder_len = 0;
  int holder_needs = 0, root_needs = 0;
  while (fgets(line, sizeof line, f)) {
    /* id parent major:minor root mount-point options [optional fields...] - fstype source super-options */
    char *field[6] = {0}, *cur = line;
    for (int i = 0; i < 6 && cur; i++) {
      field[i] = cur;
      cur = strchr(cur, ' ');
      if (cur) *cur++ = 0;
    }
    if (!cur || !field[4]) continue;
    char *dash = strncmp(cur, "- ", 2) == 0 ? cur : strstr(cur, " - ");
    if (dash) *dash = 0;
    int needs = strstr(cur, "shared:") != NULL || strstr(cur, "unbindable") != NULL;
    char *mp = field[4];
    unescape_mountinfo(mp);
    size_t n = strcmp(mp, "/") == 0 ? 0 : strlen(mp);
    if (n == 0) root_needs = needs;
    if (n > 0 && (strncmp(rootfs, mp, n) != 0 || (rootfs[n] != '/' && rootfs[n] != 0))) continue;
    if (n < holder_len) continue;
    holder_len = n;
    snprintf(holder, sizeof holder, "%s", mp);
    holder_needs = needs;
  }
  fclose(f);
  if (holder[0] && holder_needs && mount(NULL, holder, NULL, MS_PRIVATE, NULL) != 0)
    die_errno("root.path: make %s (the mount holding the rootfs) private", holder);
  if (root_needs && strcmp(holder, "/") != 0 && mount(NULL, "/", NULL, MS_PRIVATE, NULL) != 0)
    die_errno("root.path: make / private for pivot_root");
}

void rootfs_prepare(const struct plan *p) {
  if (p->options & OPT_HOST_MOUNT_NS) {
    /*
     * The runtime's own mount namespace: its "/" is left as it is. The rootfs gets a mount of its own, so that
     * everything below it goes with one lazy unmount at delete (rootfs_detach), and that mount takes the
     * requested propagation (private unless asked), so that the container's mounts stay out of other namespaces.
     */
    if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) != 0) die_errno("root.path: bind %s", p->rootfs);
    if (mount(NULL, p->rootfs, NULL, p->root_propagation ? p->root_propagation : MS_PRIVATE, NULL) != 0)
      die_errno("linux.rootfsPropagation: set on %s", p->rootfs);
  } else {
    /* Keep our mounts from propagating back to the host unless asked to (rshared for bidirectional mounts). */
    if (mount(NULL, "/", NULL, p->root_propagation ? p->root_propagation : (MS_REC | MS_SLAVE), NULL) != 0)
      die_errno("linux.rootfsPropagation: set propagation of /");
    make_pivot_parents_private(p->rootfs);
    /* pivot_root needs the new root to be a mount point. */
    if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) != 0) die_errno("root.path: bind %s", p->rootfs);
  }
  rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die_errno("root.path: open %s", p->rootfs);
  for (int i = 0; i < p->nmounts; i++) do_mount(&p->mounts[i]);
  for (int i = 0; i < p->ndevices; i++) make_device(&p->devices[i]);
  for (int i = 0; i < p->nsymlinks; i++) make_symlink(&p->symlinks[i]);
}

void rootfs_enter(const struct plan *p) {
  if (chdir(p->rootfs) != 0) die_errno("root.path: chdir %s", p->rootfs);
  if (p->options & OPT_HOST_MOUNT_NS) {
    /* Neither pivot_root nor a move: either would change the runtime's own root. */
    if (chroot(".") != 0) die_errno("root.path: chroot");
  } else if (p->options & OPT_NO_PIVOT) {
    if (mount(p->rootfs, "/", NULL, MS_MOVE, NULL) != 0) die_errno("root.path: move %s to /", p->rootfs);
    if (chroot(".") != 0) die_errno("root.path: chroot");
  } else {
    /*
     * pivot_root(".", ".") stacks the old root on the new one; detaching it then drops it. The old root is
     * reached through a descriptor of it taken before: "." alone would also name the new root, and making
     * that rslave would cut the container's rshared (bidirectional) mounts off from the host's peer group.
     */
    int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (oldroot < 0) die_errno("root.path: open the old root");
    if (syscall(SYS_pivot_root, ".", ".") != 0) die_errno("root.path: pivot_root");
    if (fchdir(oldroot) != 0) die_errno("root.path: enter the old root");
    close(oldroot);
    if (mount(NULL, ".", NULL, MS_REC | MS_SLAVE, NULL) != 0) die_errno("root.path: make old root rslave");
    if (umount2(".", MNT_DETACH) != 0) die_errno("root.path: detach old root");
  }
  if (chdir("/") != 0) die_errno("chdir /");
  if (!(p->options & OPT_HOST_MOUNT_NS) && p->root_propagation && mount(NULL, "/", NULL, p->root_propagation, NULL) != 0)
    die_errno("linux.rootfsPropagation: set on the new root");
  close(rootfd);
  rootfd = -1;
}

void rootfs_detach(const struct plan *p) {
  for (int i = 0; i < p->ndetach; i++) {
    if (umount2(p->detach[i], MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT)
      die_errno("unmount %s", p->detach[i]);
  }
  sync_send("ok");
  _exit(0);
}

static void mask_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) return;
    die_errno("linux.maskedPaths: stat %s", path);
  }
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) != 0) die_errno("linux.maskedPaths: mask %s", path);
  } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) != 0) {
    die_errno("linux.maskedPaths: mask %s", path);
  }
}

static void readonly_path(const char *path) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0) {
    if (errno == ENOENT) return;
    die_errno("linux.readonlyPaths: bind %s", path);
  }
  if (bind_remount(path, MS_RDONLY | MS_REC) != 0) die_errno("linux.readonlyPaths: remount %s read-only", path);
}

void rootfs_finish(const struct plan *p) {
  for (int i = 0; i < p->nsysctls; i++) {
    if (write_file(p->sysctls[i].b, p->sysctls[i].c) != 0) die_errno("%s: write %s", p->sysctls[i].a, p->sysctls[i].b);
  }
  for (int i = 0; i < p->nreadonly; i++) readonly_path(p->readonly[i]);
  for (int i = 0; i < p->nmasked; i++) mask_path(p->masked[i]);
  if ((p->options & OPT_ROOT_READONLY) && bind_remount("/", MS_RDONLY) != 0) die_errno("root.readonly: remount / read-only");
}
