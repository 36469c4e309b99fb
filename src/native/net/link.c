/* Links, addresses and routes over raw rtnetlink. */
#include "link.h"

#include "nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/veth.h>
#include <stdlib.h>
#include <string.h>

#ifndef IFA_F_NODAD
#define IFA_F_NODAD 0x02
#endif

static int parse_mac(const char *s, unsigned char mac[6]) {
  unsigned int b[6];
  char tail;
  if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6) return -EINVAL;
  for (int i = 0; i < 6; i++) mac[i] = (unsigned char)b[i];
  return 0;
}

static void fmt_mac(const unsigned char *m, char out[18]) {
  snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int link_cb(struct nlmsghdr *h, void *arg) {
  struct link_info *li = arg;
  if (h->nlmsg_type != RTM_NEWLINK) return 0;
  struct ifinfomsg *ifi = NLMSG_DATA(h);
  int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *ifi));
  struct rtattr *a = IFLA_RTA(ifi);
  memset(li, 0, sizeof *li);
  li->index = ifi->ifi_index;
  li->flags = ifi->ifi_flags;
  strcpy(li->mac, "00:00:00:00:00:00");
  struct rtattr *x;
  if ((x = nl_find(a, len, IFLA_IFNAME))) snprintf(li->name, sizeof li->name, "%s", (char *)RTA_DATA(x));
  if ((x = nl_find(a, len, IFLA_MTU))) li->mtu = *(unsigned int *)RTA_DATA(x);
  if ((x = nl_find(a, len, IFLA_MASTER))) li->master = *(int *)RTA_DATA(x);
  if ((x = nl_find(a, len, IFLA_ADDRESS)) && RTA_PAYLOAD(x) == 6) fmt_mac(RTA_DATA(x), li->mac);
  if ((x = nl_find(a, len, IFLA_LINKINFO))) {
    struct rtattr *k = nl_find(RTA_DATA(x), (int)RTA_PAYLOAD(x), IFLA_INFO_KIND);
    if (k) snprintf(li->kind, sizeof li->kind, "%s", (char *)RTA_DATA(k));
  }
  if (!li->kind[0]) strcpy(li->kind, ifi->ifi_type == ARPHRD_LOOPBACK ? "loopback" : "device");
  return 0;
}

int link_get(int fd, const char *name, struct link_info *out) {
  struct nl_req r;
  nl_begin(&r, RTM_GETLINK, 0, sizeof(struct ifinfomsg));
  nl_attr_str(&r, IFLA_IFNAME, name);
  nl_attr_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  out->index = 0;
  int err = nl_query(fd, &r, link_cb, out);
  if (err) return err;
  return out->index ? 0 : -ENODEV;
}

int link_add_bridge(int fd, const char *name, unsigned int mtu) {
  struct nl_req r;
  nl_begin(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifinfomsg));
  nl_attr_str(&r, IFLA_IFNAME, name);
  if (mtu) nl_attr_u32(&r, IFLA_MTU, mtu);
  struct rtattr *li = nl_nest(&r, IFLA_LINKINFO);
  nl_attr_str(&r, IFLA_INFO_KIND, "bridge");
  nl_nest_end(&r, li);
  return nl_call(fd, &r);
}

int link_add_veth(int fd, const char *name, const char *peer, unsigned int mtu, int peer_nsfd, const char *peer_mac) {
  unsigned char mac[6];
  if (peer_mac && parse_mac(peer_mac, mac)) return -EINVAL;
  struct nl_req r;
  nl_begin(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifinfomsg));
  nl_attr_str(&r, IFLA_IFNAME, name);
  if (mtu) nl_attr_u32(&r, IFLA_MTU, mtu);
  struct rtattr *li = nl_nest(&r, IFLA_LINKINFO);
  nl_attr_str(&r, IFLA_INFO_KIND, "veth");
  struct rtattr *data = nl_nest(&r, IFLA_INFO_DATA);
  struct rtattr *p = nl_nest(&r, VETH_INFO_PEER);
  /* The peer's attributes follow its own ifinfomsg. */
  struct ifinfomsg peer_ifi = {.ifi_family = AF_UNSPEC};
  memcpy(r.buf + r.h->nlmsg_len, &peer_ifi, sizeof peer_ifi);
  r.h->nlmsg_len += NLMSG_ALIGN(sizeof peer_ifi);
  nl_attr_str(&r, IFLA_IFNAME, peer);
  if (mtu) nl_attr_u32(&r, IFLA_MTU, mtu);
  if (peer_mac) nl_attr(&r, IFLA_ADDRESS, mac, 6);
  if (peer_nsfd >= 0) nl_attr_u32(&r, IFLA_NET_NS_FD, (unsigned int)peer_nsfd);
  nl_nest_end(&r, p);
  nl_nest_end(&r, data);
  nl_nest_end(&r, li);
  return nl_call(fd, &r);
}

int link_set(int fd, int index, unsigned int mtu, const char *mac, int master, int up, int promisc) {
  unsigned char m[6];
  if (mac && parse_mac(mac, m)) return -EINVAL;
  struct nl_req r;
  struct ifinfomsg *ifi = nl_begin(&r, RTM_NEWLINK, 0, sizeof(struct ifinfomsg));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  if (up >= 0) {
    ifi->ifi_change |= IFF_UP;
    if (up) ifi->ifi_flags |= IFF_UP;
  }
  if (promisc >= 0) {
    ifi->ifi_change |= IFF_PROMISC;
    if (promisc) ifi->ifi_flags |= IFF_PROMISC;
  }
  if (mtu) nl_attr_u32(&r, IFLA_MTU, mtu);
  if (mac) nl_attr(&r, IFLA_ADDRESS, m, 6);
  if (master >= 0) nl_attr_u32(&r, IFLA_MASTER, (unsigned int)master);
  return nl_call(fd, &r);
}

int link_hairpin(int fd, int index, int on) {
  struct nl_req r;
  struct ifinfomsg *ifi = nl_begin(&r, RTM_SETLINK, 0, sizeof(struct ifinfomsg));
  ifi->ifi_family = AF_BRIDGE;
  ifi->ifi_index = index;
  struct rtattr *p = nl_nest(&r, IFLA_PROTINFO | NLA_F_NESTED);
  nl_attr_u8(&r, IFLA_BRPORT_MODE, on ? 1 : 0);
  nl_nest_end(&r, p);
  return nl_call(fd, &r);
}

int link_del(int fd, int index) {
  struct nl_req r;
  struct ifinfomsg *ifi = nl_begin(&r, RTM_DELLINK, 0, sizeof(struct ifinfomsg));
  ifi->ifi_index = index;
  return nl_call(fd, &r);
}

int parse_ip(const char *s, int *family, unsigned char addr[16]) {
  memset(addr, 0, 16);
  if (inet_pton(AF_INET, s, addr) == 1) {
    *family = AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, s, addr) == 1) {
    *family = AF_INET6;
    return 0;
  }
  return -EINVAL;
}

int parse_cidr(const char *s, struct cidr *out) {
  char ip[64];
  const char *slash = strchr(s, '/');
  if (!slash || (size_t)(slash - s) >= sizeof ip) return -EINVAL;
  memcpy(ip, s, (size_t)(slash - s));
  ip[slash - s] = 0;
  if (parse_ip(ip, &out->family, out->addr)) return -EINVAL;
  char *end;
  long p = strtol(slash + 1, &end, 10);
  if (*end || end == slash + 1 || p < 0 || p > (out->family == AF_INET ? 32 : 128)) return -EINVAL;
  out->prefix = (int)p;
  return 0;
}

static size_t alen(int family) { return family == AF_INET ? 4 : 16; }

static int addr_msg(int fd, int type, int flags, int index, const struct cidr *c, int nodad) {
  struct nl_req r;
  struct ifaddrmsg *ifa = nl_begin(&r, type, flags, sizeof(struct ifaddrmsg));
  ifa->ifa_family = (unsigned char)c->family;
  ifa->ifa_prefixlen = (unsigned char)c->prefix;
  ifa->ifa_index = (unsigned int)index;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  nl_attr(&r, IFA_LOCAL, c->addr, alen(c->family));
  nl_attr(&r, IFA_ADDRESS, c->addr, alen(c->family));
  if (c->family == AF_INET && c->prefix < 31 && type == RTM_NEWADDR) {
    unsigned char brd[4];
    unsigned int host = c->prefix == 0 ? 0xffffffffu : (1u << (32 - c->prefix)) - 1;
    unsigned int a;
    memcpy(&a, c->addr, 4);
    a = htonl(ntohl(a) | host);
    memcpy(brd, &a, 4);
    nl_attr(&r, IFA_BROADCAST, brd, 4);
  }
  if (nodad && c->family == AF_INET6) nl_attr_u32(&r, IFA_FLAGS, IFA_F_NODAD);
  return nl_call(fd, &r);
}

int addr_add(int fd, int index, const struct cidr *c, int nodad) {
  return addr_msg(fd, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, index, c, nodad);
}

int addr_del(int fd, int index, const struct cidr *c) { return addr_msg(fd, RTM_DELADDR, 0, index, c, 0); }

struct addr_walk {
  int index;
  int family;
  /* Either print each address, or collect them. */
  const char *name;
  FILE *out;
  struct cidr found[32];
  int n;
};

static int addr_cb(struct nlmsghdr *h, void *arg) {
  struct addr_walk *w = arg;
  if (h->nlmsg_type != RTM_NEWADDR) return 0;
  struct ifaddrmsg *ifa = NLMSG_DATA(h);
  if ((int)ifa->ifa_index != w->index) return 0;
  if (w->family && ifa->ifa_family != w->family) return 0;
  int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *ifa));
  struct rtattr *x = nl_find(IFA_RTA(ifa), len, IFA_LOCAL);
  if (!x) x = nl_find(IFA_RTA(ifa), len, IFA_ADDRESS);
  if (!x) return 0;
  if (ifa->ifa_family == AF_INET6 && ifa->ifa_scope == RT_SCOPE_LINK) return 0; /* fe80::/64: the kernel's own */
  struct cidr c = {.family = ifa->ifa_family, .prefix = ifa->ifa_prefixlen};
  memcpy(c.addr, RTA_DATA(x), alen(c.family));
  if (w->out) {
    char text[INET6_ADDRSTRLEN];
    inet_ntop(c.family, c.addr, text, sizeof text);
    fprintf(w->out, "addr %s %s/%d\n", w->name, text, c.prefix);
  }
  if (w->n < 32) w->found[w->n++] = c;
  return 0;
}

static int addr_walk(int fd, struct addr_walk *w) {
  struct nl_req r;
  struct ifaddrmsg *ifa = nl_begin(&r, RTM_GETADDR, NLM_F_DUMP, sizeof(struct ifaddrmsg));
  ifa->ifa_family = (unsigned char)w->family;
  return nl_query(fd, &r, addr_cb, w);
}

int addr_list(int fd, int index, const char *name, int family, FILE *out) {
  struct addr_walk w = {.index = index, .family = family, .name = name, .out = out};
  return addr_walk(fd, &w);
}

static int same_net(const struct cidr *a, const struct cidr *b, int prefix) {
  int full = prefix / 8, rest = prefix % 8;
  if (memcmp(a->addr, b->addr, (size_t)full)) return 0;
  if (!rest) return 1;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a->addr[full] & mask) == (b->addr[full] & mask);
}

int addr_ensure(int fd, int index, const struct cidr *c, int force) {
  struct addr_walk w = {.index = index, .family = c->family};
  int err = addr_walk(fd, &w);
  if (err) return err;
  for (int i = 0; i < w.n; i++) {
    const struct cidr *e = &w.found[i];
    if (!memcmp(e->addr, c->addr, alen(c->family)) && e->prefix == c->prefix) return 0;
  }
  for (int i = 0; i < w.n; i++) {
    const struct cidr *e = &w.found[i];
    int p = e->prefix < c->prefix ? e->prefix : c->prefix;
    if (!same_net(e, c, p)) continue;
    if (!force) return -EEXIST;
    if ((err = addr_del(fd, index, e))) return err;
  }
  return addr_add(fd, index, c, 1);
}

int route_add(int fd, int index, const struct route_spec *rs) {
  struct nl_req r;
  struct rtmsg *rtm = nl_begin(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct rtmsg));
  rtm->rtm_family = (unsigned char)rs->dst.family;
  rtm->rtm_dst_len = (unsigned char)rs->dst.prefix;
  rtm->rtm_table = rs->table && rs->table < 256 ? (unsigned char)rs->table : RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_type = RTN_UNICAST;
  rtm->rtm_scope = rs->scope >= 0 ? (unsigned char)rs->scope : rs->has_gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  if (rs->table >= 256) nl_attr_u32(&r, RTA_TABLE, rs->table);
  if (rs->dst.prefix) nl_attr(&r, RTA_DST, rs->dst.addr, alen(rs->dst.family));
  if (rs->has_gw) nl_attr(&r, RTA_GATEWAY, rs->gw, alen(rs->dst.family));
  nl_attr_u32(&r, RTA_OIF, (unsigned int)index);
  if (rs->metric) nl_attr_u32(&r, RTA_PRIORITY, rs->metric);
  if (rs->mtu || rs->advmss) {
    struct rtattr *mx = nl_nest(&r, RTA_METRICS);
    if (rs->mtu) nl_attr_u32(&r, RTAX_MTU, rs->mtu);
    if (rs->advmss) nl_attr_u32(&r, RTAX_ADVMSS, rs->advmss);
    nl_nest_end(&r, mx);
  }
  return nl_call(fd, &r);
}

struct route_walk {
  int index;
  const char *name;
  FILE *out;
};

static int route_cb(struct nlmsghdr *h, void *arg) {
  struct route_walk *w = arg;
  if (h->nlmsg_type != RTM_NEWROUTE) return 0;
  struct rtmsg *rtm = NLMSG_DATA(h);
  if (rtm->rtm_table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST) return 0;
  int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *rtm));
  struct rtattr *oif = nl_find(RTM_RTA(rtm), len, RTA_OIF);
  if (!oif || *(int *)RTA_DATA(oif) != w->index) return 0;
  struct rtattr *dst = nl_find(RTM_RTA(rtm), len, RTA_DST);
  struct rtattr *gw = nl_find(RTM_RTA(rtm), len, RTA_GATEWAY);
  struct rtattr *prio = nl_find(RTM_RTA(rtm), len, RTA_PRIORITY);
  unsigned char zero[16] = {0};
  char d[INET6_ADDRSTRLEN], g[INET6_ADDRSTRLEN] = "-";
  inet_ntop(rtm->rtm_family, dst ? RTA_DATA(dst) : zero, d, sizeof d);
  if (gw) inet_ntop(rtm->rtm_family, RTA_DATA(gw), g, sizeof g);
  if (rtm->rtm_family == AF_INET6 && dst && rtm->rtm_dst_len == 64 && ((unsigned char *)RTA_DATA(dst))[0] == 0xfe &&
      (((unsigned char *)RTA_DATA(dst))[1] & 0xc0) == 0x80)
    return 0; /* fe80::/64: the kernel's own */
  fprintf(w->out, "route %s %s/%d %s %u\n", w->name, d, rtm->rtm_dst_len, g, prio ? *(unsigned int *)RTA_DATA(prio) : 0);
  return 0;
}

int route_list(int fd, int index, const char *name, FILE *out) {
  struct route_walk w = {.index = index, .name = name, .out = out};
  struct nl_req r;
  nl_begin(&r, RTM_GETROUTE, NLM_F_DUMP, sizeof(struct rtmsg));
  return nl_query(fd, &r, route_cb, &w);
}
