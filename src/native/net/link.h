/* Link, address and route operations over rtnetlink, in the current network namespace's socket. */
#ifndef BERTH_LINK_H
#define BERTH_LINK_H

#include <stdio.h>

struct link_info {
  int index;
  int master;
  unsigned int mtu;
  unsigned int flags;
  char name[16];
  char mac[18];
  char kind[16];
};

/* All return 0 or -errno. */
int link_get(int fd, const char *name, struct link_info *out);
int link_add_bridge(int fd, const char *name, unsigned int mtu);
int link_add_veth(int fd, const char *name, const char *peer, unsigned int mtu, int peer_nsfd, const char *peer_mac);
/* Changes only what is asked: mtu 0, mac NULL, master < 0, up/promisc < 0 mean "leave". */
int link_set(int fd, int index, unsigned int mtu, const char *mac, int master, int up, int promisc);
int link_hairpin(int fd, int index, int on);
int link_del(int fd, int index);

struct cidr {
  int family;
  unsigned char addr[16];
  int prefix;
};
int parse_cidr(const char *s, struct cidr *out);
int parse_ip(const char *s, int *family, unsigned char addr[16]);

int addr_add(int fd, int index, const struct cidr *c, int nodad);
int addr_del(int fd, int index, const struct cidr *c);
/* Prints "addr <name> <cidr>" for each address of the family (0: all) on link `index`. */
int addr_list(int fd, int index, const char *name, int family, FILE *out);
/* The bridge gateway rule: present → nothing; another address of the same subnet → error (EEXIST) unless force. */
int addr_ensure(int fd, int index, const struct cidr *c, int force);

struct route_spec {
  struct cidr dst;
  int has_gw;
  unsigned char gw[16];
  unsigned int metric;
  unsigned int mtu;
  unsigned int advmss;
  unsigned int table;
  int scope; /* -1: derived (link scope without a gateway) */
};
int route_add(int fd, int index, const struct route_spec *r);
/* Prints "route <name> <dst> <gw|-> <metric>" for each main-table route through link `index`. */
int route_list(int fd, int index, const char *name, FILE *out);

#endif
