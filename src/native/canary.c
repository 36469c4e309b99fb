/*
 * berth-canary: the whole rootfs of berth-agent's canary container. It proves that a runtime handler can
 * create a container and run a process in it: it writes one line and exits 0. Static, no libc start-up beyond
 * musl's, so that it runs in an empty rootfs.
 */
#include <unistd.h>

int main(void) {
  static const char line[] = "berth-canary: ok\n";
  return write(1, line, sizeof line - 1) == (ssize_t)(sizeof line - 1) ? 0 : 1;
}
