/*
 * berth-netlink: executes one batch of network operations that the TypeScript CNI plugins decided on, with
 * raw rtnetlink, switching network namespaces with setns(2) by fd. Node can do neither, so every plugin
 * invocation is exactly one exec of this program.
 *
 * Input (stdin): one operation per line, whitespace-separated tokens (see usage()). Operations run in order
 * in the current namespace (the caller's at start; `ns` switches). Output (stdout): one line per fact
 * reported, then "ok"; or, at the first failing operation, "error <line> <op>: <reason>" and exit status 1.
 * Nothing is undone here: the caller knows what it asked for and decides how to roll back.
 */
#define _GNU_SOURCE
#include "link.h"
#include "nl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <sys/socket.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TOKENS 16

static const char USAGE[] =
    "usage: berth-netlink < operations\n"
    "Runs network operations read from stdin, one per line, in order; prints facts, then \"ok\" or\n"
    "\"error <line> <op>: <reason>\" (exit status 1). Used by Berth's CNI plugins.\n"
    "  ns host | ns PATH            switch network namespace (PATH: a netns file); prints \"ns PATH\"\n"
    "  ns? PATH                     same, but a missing PATH prints \"nonetns PATH\" and skips to the next ns\n"
    "  bridge NAME [mtu=N] [promisc=0|1]   create if missing (an existing non-bridge is an error), set up\n"
    "  veth NAME PEER NSPATH [mtu=N] [mac=MAC]   veth pair, PEER created inside NSPATH\n"
    "  set NAME [up|down] [mtu=N] [mac=MAC] [master=LINK] [promisc=0|1] [hairpin=0|1]\n"
    "  show NAME                    print \"link NAME INDEX MAC MTU KIND MASTER UP\" or \"absent NAME\"\n"
    "  del NAME                     delete if present (prints \"absent NAME\" when it was not)\n"
    "  addr NAME CIDR [nodad]       add an address\n"
    "  gwaddr NAME CIDR [force]     add unless present; another address in the subnet fails unless force\n"
    "  route NAME DST [gw=IP] [metric=N] [mtu=N] [advmss=N] [table=N] [scope=N]\n"
    "  addrs NAME [4|6]             print \"addr NAME CIDR\" lines\n"
    "  routes NAME                  print \"route NAME DST GW|- METRIC\" lines (main table)\n"
    "  sysctl KEY VALUE             write /proc/sys/KEY (KEY under net/) in the current namespace\n"
    "  sysctl? KEY VALUE            same, ignoring failure\n";

static int host_ns = -1;
static int nlfd = -1;

struct op {
  int line;
  int argc;
  char *argv[MAX_TOKENS];
};

static const char *opt(const struct op *o, const char *key) {
  size_t n = strlen(key);
  for (int i = 1; i < o->argc; i++)
    if (!strncmp(o->argv[i], key, n) && o->argv[i][n] == '=') return o->argv[i] + n + 1;
  return NULL;
}

static int flag(const struct op *o, const char *word) {
  for (int i = 1; i < o->argc; i++)
    if (!strcmp(o->argv[i], word)) return 1;
  return 0;
}

static int num(const char *s, unsigned int *out) {
  if (!s) return 0;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || end == s || v > 0xffffffffUL) return -EINVAL;
  *out = (unsigned int)v;
  return 0;
}

static int reopen_socket(void) {
  if (nlfd >= 0) close(nlfd);
  nlfd = nl_open();
  return nlfd < 0 ? nlfd : 0;
}

static int switch_ns(const char *path, int *missing) {
  int fd = -1;
  if (!strcmp(path, "host")) {
    fd = host_ns;
  } else {
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (missing && errno == ENOENT) {
        *missing = 1;
        return 0;
      }
      return -errno;
    }
  }
  int err = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
  if (fd != host_ns) close(fd);
  if (err) return err == -EINVAL ? -ENOTDIR : err; /* EINVAL: not a network namespace file */
  return reopen_socket();
}

static void print_link(const struct link_info *li) {
  printf("link %s %d %s %u %s %d %d\n", li->name, li->index, li->mac, li->mtu, li->kind, li->master, (li->flags & IFF_UP) ? 1 : 0);
}

static int write_sysctl(const char *key, const char *value) {
  if (strncmp(key, "net/", 4) || strstr(key, "..")) return -EINVAL;
  char path[256];
  if (snprintf(path, sizeof path, "/proc/sys/%s", key) >= (int)sizeof path) return -ENAMETOOLONG;
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = write(fd, value, strlen(value));
  int err = n < 0 ? -errno : 0;
  close(fd);
  return err;
}

static int need(const struct op *o, int n) { return o->argc < n ? -EINVAL : 0; }

static int index_of(const char *name, int *index) {
  struct link_info li;
  int err = link_get(nlfd, name, &li);
  if (!err) *index = li.index;
  return err;
}

/* Runs one operation; returns 0 or -errno. *skip is set while a `ns?` target is missing. */
static int run(const struct op *o, int *skip, const char **why) {
  const char *cmd = o->argv[0];
  int err, index;
  *why = NULL;
  if (!strcmp(cmd, "ns") || !strcmp(cmd, "ns?")) {
    if ((err = need(o, 2))) return err;
    int missing = 0;
    *skip = 0;
    err = switch_ns(o->argv[1], cmd[2] == '?' ? &missing : NULL);
    if (!err && missing) {
      printf("nonetns %s\n", o->argv[1]);
      *skip = 1;
    } else if (!err) {
      printf("ns %s\n", o->argv[1]);
    }
    return err;
  }
  if (*skip) return 0;
  if (!strcmp(cmd, "bridge")) {
    if ((err = need(o, 2))) return err;
    unsigned int mtu = 0, promisc = 0;
    if (num(opt(o, "mtu"), &mtu) || num(opt(o, "promisc"), &promisc)) return -EINVAL;
    struct link_info li;
    err = link_get(nlfd, o->argv[1], &li);
    if (err == -ENODEV) {
      err = link_add_bridge(nlfd, o->argv[1], mtu);
      if (err == -EEXIST) err = 0; /* created meanwhile by a concurrent ADD */
      if (!err) err = link_get(nlfd, o->argv[1], &li);
    }
    if (err) return err;
    if (strcmp(li.kind, "bridge")) {
      *why = "exists and is not a bridge";
      return -EEXIST;
    }
    if ((err = link_set(nlfd, li.index, 0, NULL, -1, 1, opt(o, "promisc") ? (int)promisc : -1))) return err;
    if ((err = link_get(nlfd, o->argv[1], &li))) return err;
    print_link(&li);
    return 0;
  }
  if (!strcmp(cmd, "veth")) {
    if ((err = need(o, 4))) return err;
    unsigned int mtu = 0;
    if (num(opt(o, "mtu"), &mtu)) return -EINVAL;
    int fd = open(o->argv[3], O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    err = link_add_veth(nlfd, o->argv[1], o->argv[2], mtu, fd, opt(o, "mac"));
    close(fd);
    return err;
  }
  if (!strcmp(cmd, "set")) {
    if ((err = need(o, 2)) || (err = index_of(o->argv[1], &index))) return err;
    unsigned int mtu = 0, promisc = 0, hairpin = 0;
    if (num(opt(o, "mtu"), &mtu) || num(opt(o, "promisc"), &promisc) || num(opt(o, "hairpin"), &hairpin)) return -EINVAL;
    int master = -1;
    if (opt(o, "master") && (err = index_of(opt(o, "master"), &master))) {
      *why = "master not found";
      return err;
    }
    int up = flag(o, "up") ? 1 : flag(o, "down") ? 0 : -1;
    /* Master first, hairpin needs it; up last, once everything else is in place. */
    if ((mtu || opt(o, "mac") || master >= 0 || opt(o, "promisc")) &&
        (err = link_set(nlfd, index, mtu, opt(o, "mac"), master, -1, opt(o, "promisc") ? (int)promisc : -1)))
      return err;
    if (opt(o, "hairpin") && (err = link_hairpin(nlfd, index, (int)hairpin))) return err;
    if (up >= 0 && (err = link_set(nlfd, index, 0, NULL, -1, up, -1))) return err;
    return 0;
  }
  if (!strcmp(cmd, "show")) {
    if ((err = need(o, 2))) return err;
    struct link_info li;
    err = link_get(nlfd, o->argv[1], &li);
    if (err == -ENODEV) {
      printf("absent %s\n", o->argv[1]);
      return 0;
    }
    if (!err) print_link(&li);
    return err;
  }
  if (!strcmp(cmd, "del")) {
    if ((err = need(o, 2))) return err;
    err = index_of(o->argv[1], &index);
    if (err == -ENODEV) {
      printf("absent %s\n", o->argv[1]);
      return 0;
    }
    if (!err) err = link_del(nlfd, index);
    return err == -ENODEV ? 0 : err;
  }
  if (!strcmp(cmd, "addr") || !strcmp(cmd, "gwaddr")) {
    if ((err = need(o, 3))) return err;
    struct cidr c;
    if (parse_cidr(o->argv[2], &c)) return -EINVAL;
    if ((err = index_of(o->argv[1], &index))) return err;
    if (cmd[0] == 'a') return addr_add(nlfd, index, &c, flag(o, "nodad"));
    err = addr_ensure(nlfd, index, &c, flag(o, "force"));
    if (err == -EEXIST) *why = "already has a different address in this subnet";
    return err;
  }
  if (!strcmp(cmd, "route")) {
    if ((err = need(o, 3))) return err;
    struct route_spec rs = {.scope = -1};
    if (parse_cidr(o->argv[2], &rs.dst)) return -EINVAL;
    const char *gw = opt(o, "gw");
    if (gw) {
      int fam;
      if (parse_ip(gw, &fam, rs.gw) || fam != rs.dst.family) return -EINVAL;
      rs.has_gw = 1;
    }
    unsigned int scope = 0;
    if (num(opt(o, "metric"), &rs.metric) || num(opt(o, "mtu"), &rs.mtu) || num(opt(o, "advmss"), &rs.advmss) ||
        num(opt(o, "table"), &rs.table) || num(opt(o, "scope"), &scope))
      return -EINVAL;
    if (opt(o, "scope")) rs.scope = (int)scope;
    if ((err = index_of(o->argv[1], &index))) return err;
    return route_add(nlfd, index, &rs);
  }
  if (!strcmp(cmd, "addrs")) {
    if ((err = need(o, 2)) || (err = index_of(o->argv[1], &index))) return err;
    int family = o->argc > 2 ? (!strcmp(o->argv[2], "4") ? AF_INET : AF_INET6) : 0;
    return addr_list(nlfd, index, o->argv[1], family, stdout);
  }
  if (!strcmp(cmd, "routes")) {
    if ((err = need(o, 2)) || (err = index_of(o->argv[1], &index))) return err;
    return route_list(nlfd, index, o->argv[1], stdout);
  }
  if (!strcmp(cmd, "sysctl") || !strcmp(cmd, "sysctl?")) {
    if ((err = need(o, 3))) return err;
    err = write_sysctl(o->argv[1], o->argv[2]);
    return cmd[6] == '?' ? 0 : err;
  }
  *why = "unknown operation";
  return -EINVAL;
}

static char *read_all(int fd) {
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) return NULL;
    if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
    if (!buf) return NULL;
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = 0;
  return buf;
}

int main(int argc, char **argv) {
  if (argc > 1) {
    int help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
    fputs(USAGE, help ? stdout : stderr);
    return help ? 0 : 2;
  }
  host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  char *text = read_all(0);
  if (host_ns < 0 || !text || reopen_socket()) {
    printf("error 0 start: %s\n", strerror(errno));
    return 1;
  }
  int line = 0, skip = 0;
  for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    struct op o = {.line = ++line};
    for (char *s2 = NULL, *t = strtok_r(l, " \t", &s2); t && o.argc < MAX_TOKENS; t = strtok_r(NULL, " \t", &s2)) o.argv[o.argc++] = t;
    if (!o.argc) continue;
    const char *why;
    int err = run(&o, &skip, &why);
    if (err) {
      printf("error %d %s %s: %s\n", o.line, o.argv[0], o.argc > 1 ? o.argv[1] : "", why ? why : strerror(-err));
      return 1;
    }
  }
  printf("ok\n");
  return 0;
}
