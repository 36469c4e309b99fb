/* Raw rtnetlink: building requests and reading answers, nothing else. */
#include "nl.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned int seq;

void *nl_begin(struct nl_req *r, int type, int flags, size_t hdrlen) {
  memset(r->buf, 0, sizeof r->buf);
  r->h = (struct nlmsghdr *)r->buf;
  r->h->nlmsg_len = NLMSG_LENGTH(hdrlen);
  r->h->nlmsg_type = type;
  r->h->nlmsg_flags = NLM_F_REQUEST | flags;
  r->h->nlmsg_seq = ++seq;
  return NLMSG_DATA(r->h);
}

void nl_attr(struct nl_req *r, int type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->h->nlmsg_len));
  size_t total = NLMSG_ALIGN(r->h->nlmsg_len) + RTA_SPACE(len);
  if (total > sizeof r->buf) return; /* never reached: requests are a few hundred bytes */
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->h->nlmsg_len = total;
}

void nl_attr_str(struct nl_req *r, int type, const char *s) { nl_attr(r, type, s, strlen(s) + 1); }
void nl_attr_u32(struct nl_req *r, int type, unsigned int v) { nl_attr(r, type, &v, sizeof v); }
void nl_attr_u8(struct nl_req *r, int type, unsigned char v) { nl_attr(r, type, &v, sizeof v); }

struct rtattr *nl_nest(struct nl_req *r, int type) {
  struct rtattr *a = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->h->nlmsg_len));
  nl_attr(r, type, NULL, 0);
  return a;
}

void nl_nest_end(struct nl_req *r, struct rtattr *nest) {
  nest->rta_len = (unsigned short)((r->buf + r->h->nlmsg_len) - (char *)nest);
}

int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  int one = 1;
  /* Extended acks give the kernel's reason in text; only the errno is used, but it keeps acks small. */
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  return fd;
}

static int nl_send(int fd, struct nl_req *r) {
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  for (;;) {
    ssize_t n = sendto(fd, r->buf, r->h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa);
    if (n >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

int nl_query(int fd, struct nl_req *r, int (*cb)(struct nlmsghdr *h, void *arg), void *arg) {
  r->h->nlmsg_flags |= NLM_F_ACK;
  int err = nl_send(fd, r);
  if (err) return err;
  static char rbuf[65536];
  unsigned int want = r->h->nlmsg_seq;
  int dump = (r->h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  for (;;) {
    ssize_t n = recv(fd, rbuf, sizeof rbuf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    int len = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != want) continue;
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        if (e->error) return e->error;
        if (!dump) return 0;
        continue;
      }
      if (cb) {
        int rc = cb(h, arg);
        if (rc) return rc;
      }
    }
  }
}

int nl_call(int fd, struct nl_req *r) { return nl_query(fd, r, NULL, NULL); }

struct rtattr *nl_find(struct rtattr *rta, int len, int type) {
  for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
    if ((rta->rta_type & NLA_TYPE_MASK) == type) return rta;
  return NULL;
}
