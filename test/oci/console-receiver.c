/*
 * Test stand-in for a shim's console socket: listens on argv[1], receives the pty master over SCM_RIGHTS,
 * writes argv[2] (if given) to it, then copies everything the container writes to stdout until the pty closes.
 * Prints "connected <name>" first, so the test knows which pty it got.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int srv = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
  unlink(argv[1]);
  if (bind(srv, (struct sockaddr *)&sa, sizeof sa) || listen(srv, 1)) { perror("listen"); return 1; }
  printf("listening\n");
  fflush(stdout);
  int c = accept(srv, NULL, NULL);
  if (c < 0) { perror("accept"); return 1; }
  char name[256] = {0};
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { .iov_base = name, .iov_len = sizeof name - 1 };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  if (recvmsg(c, &msg, 0) < 0) { perror("recvmsg"); return 1; }
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (!cm || cm->cmsg_type != SCM_RIGHTS) { fprintf(stderr, "no fd received\n"); return 1; }
  int master;
  memcpy(&master, CMSG_DATA(cm), sizeof master);
  printf("connected %s\n", name);
  fflush(stdout);
  if (argc > 2) write(master, argv[2], strlen(argv[2]));
  char buf[4096];
  for (int idle = 0; idle < 200;) {
    struct pollfd p = { .fd = master, .events = POLLIN };
    int n = poll(&p, 1, 50);
    if (n == 0) { idle++; continue; }
    ssize_t r = read(master, buf, sizeof buf);
    if (r <= 0) break; /* EIO once the last holder of the slave is gone */
    fwrite(buf, 1, (size_t)r, stdout);
    fflush(stdout);
  }
  return 0;
}
