/* Raw rtnetlink (NETLINK_ROUTE): one socket per network namespace, request/ack, attribute building. */
#ifndef BERTH_NL_H
#define BERTH_NL_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stddef.h>

#define NL_BUFSIZE 8192

struct nl_req {
  struct nlmsghdr *h;
  char buf[NL_BUFSIZE];
};

/* A request of `type` with `flags` (NLM_F_REQUEST|NLM_F_ACK added) and a fixed header of `hdrlen` bytes. */
void *nl_begin(struct nl_req *r, int type, int flags, size_t hdrlen);
void nl_attr(struct nl_req *r, int type, const void *data, size_t len);
void nl_attr_str(struct nl_req *r, int type, const char *s);
void nl_attr_u32(struct nl_req *r, int type, unsigned int v);
void nl_attr_u8(struct nl_req *r, int type, unsigned char v);
struct rtattr *nl_nest(struct nl_req *r, int type);
void nl_nest_end(struct nl_req *r, struct rtattr *nest);

int nl_open(void);
/* Sends and waits for the ack: 0 or -errno. */
int nl_call(int fd, struct nl_req *r);
/* Sends a request whose answer is messages (a GET or a dump); `cb` sees each; returns 0 or -errno. */
int nl_query(int fd, struct nl_req *r, int (*cb)(struct nlmsghdr *h, void *arg), void *arg);

/* Finds attribute `type` in [rta, rta+len); NULL when absent. */
struct rtattr *nl_find(struct rtattr *rta, int len, int type);

#endif
