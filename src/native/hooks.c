#define _GNU_SOURCE
#include "hooks.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_one(const struct hook_op *h, const char *state) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) die_errno("%s: pipe", h->label);
  pid_t pid = fork();
  if (pid < 0) die_errno("%s: fork", h->label);
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    const char *argv0[2] = { h->path, NULL };
    execve(h->path, (char *const *)(h->argv[0] ? h->argv : argv0), (char *const *)h->envp);
    dprintf(2, "exec %s: %s", h->path, strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  /* The hook may exit without reading stdin. */
  signal(SIGPIPE, SIG_IGN);
  write_all(in[1], state, strlen(state));
  close(in[1]);

  char output[2048];
  size_t used = 0;
  long long deadline = h->timeout ? now_ms() + (long long)h->timeout * 1000 : -1;
  for (;;) {
    struct pollfd pfd = { .fd = out[0], .events = POLLIN };
    int wait = deadline < 0 ? -1 : (int)(deadline - now_ms());
    if (deadline >= 0 && wait <= 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      die("%s: %s did not finish within its timeout of %llu s", h->label, h->path, (unsigned long long)h->timeout);
    }
    int n = poll(&pfd, 1, wait);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[512];
    ssize_t r = read(out[0], buf, sizeof buf);
    if (r <= 0) break;
    size_t keep = (size_t)r < sizeof output - 1 - used ? (size_t)r : sizeof output - 1 - used;
    memcpy(output + used, buf, keep);
    used += keep;
  }
  close(out[0]);
  output[used] = 0;
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFSIGNALED(status)) die("%s: %s killed by signal %d: %s", h->label, h->path, WTERMSIG(status), output);
  die("%s: %s exited with status %d: %s", h->label, h->path, WEXITSTATUS(status), output);
}

void hooks_run(const struct plan *p, uint64_t phase, const char *state_json) {
  for (int i = 0; i < p->nhooks; i++)
    if (p->hooks[i].phase == phase) run_one(&p->hooks[i], state_json);
}
