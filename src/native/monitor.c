/*
 * berth-monitor: parent of one container (or exec) process for its whole life. It holds the process's stdio
 * (pipes, or the pty master), writes the CRI log file, serves attach on a unix socket, records the exit
 * status and OOM kill atomically in its directory, then exits. berth-shim can die and come back meanwhile.
 *
 * Two ways to start the process, both leaving us its parent as a child subreaper:
 *   --init PATH   started by the berth-run library in place of berth-init (its "launcher" option), with
 *                 berth-run's sync socket on fd 3. Once the plan is readable there (so berth-run has moved us
 *                 into the container's cgroup), we fork and exec the real berth-init with our pipes as its
 *                 stdio, then move ourselves back into our parent's cgroups.
 *   -- CMD ARGS   any runc-compatible CLI (`runc create ...`, `runc exec -d ...`) run with our pipes as stdio;
 *                 an optional fd 3 gets one line: "pid N" (the process exists) or "error ...".
 * With --wait-attach SECONDS (an exec whose client will attach), the process's output is not read until the
 * first attach client arrives or the time is up: it waits in the pipe (the process blocks when the pipe is
 * full), so the client gets everything; an exit meanwhile is held back too, so its output reaches the client.
 *
 * Live OOM: the process's memory cgroup is watched (v1: eventfd on memory.oom_control; v2: inotify on
 * memory.events); when its oom_kill counter goes up, watch clients are told, while the process may live on.
 *
 * When the launcher has exited successfully, our one remaining child is the process to watch: its init
 * became our child when the launcher (berth-init's parent half, or runc) exited.
 *
 * Control socket <dir>/monitor.sock (root only), one text command per connection:
 *   watch                 "ok", then "oom <n>" whenever the process's memory cgroup has had n OOM kills since
 *                         the start (at once if n > 0 already), and "exit <code>" when the process has exited
 *                         and the record is written
 *   state                 "pid <pid> started <0|1>"
 *   started               stamp the start time kept in the exit record
 *   reopen                reopen the log file (after rotation); "ok" or "error <reason>"
 *   resize <rows> <cols>  terminal size; closestdin: close the process's stdin
 *   attach [stdin [once]] frames to the client: <u8 stream 1|2, u32 BE length, bytes>, and <3, 4, i32 BE exit
 *                         code> at the end; with stdin, everything the client sends goes to the process's stdin
 *                         (with once, the client's end of input closes it).
 */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define MAX_CLIENTS 16
#define STDIN_CHUNK 4096
/* An unfinished line waits this long for its end before it is written as a P record. */
#define PARTIAL_FLUSH_MS 1000
/* v1 signals OOM before the kernel has chosen and killed a victim: the kill counter is read again for this long. */
#define OOM_SETTLE_MS 2000
#define OOM_RECHECK_MS 20
/* --wait-attach: an attach client that takes no output for this long is disconnected. */
#define ATTACH_STALL_S 30

static const char USAGE[] =
    "usage: berth-monitor --dir DIR [--log FILE] [--tty] [--stdin] (--init BERTH_INIT | -- COMMAND [ARG...])\n"
    "Parent of one container or exec process, started by berth-shim: holds its stdio, writes the CRI log FILE,\n"
    "serves attach and control on DIR/monitor.sock and records the exit in DIR/exit.json.\n"
    "  --dir DIR     this process's directory (sockets, exit record)\n"
    "  --log FILE    CRI log file (\"<time> <stream> <F|P> <text>\" lines)\n"
    "  --tty         the process has a terminal: its pty master arrives on DIR/console.sock\n"
    "  --stdin       keep a stdin pipe open (otherwise stdin is /dev/null)\n"
    "  --wait-attach SECONDS  hold the output (and the exit) until the first attach client, at most SECONDS\n"
    "  --init PATH   started by the berth-run library in place of berth-init (sync socket on fd 3)\n"
    "  -- COMMAND    run a runc-compatible launcher (create / exec --detach) with our stdio\n";

enum client_mode { C_COMMAND, C_WATCH, C_ATTACH };

struct client {
  int fd;
  enum client_mode mode;
  int stdin_in, stdin_once;
  int in_eof;              /* the client ended its input; it still gets output */
  size_t len;              /* command bytes, or pending stdin bytes */
  size_t off;              /* pending stdin already written */
  char buf[STDIN_CHUNK];
};

static struct {
  const char *dir;
  int tty, want_stdin;
  const char *init;
  char **argv;
  int report_fd;           /* command mode: where "pid N" goes */
  int sigfd, listener, console_listener;
  pid_t launcher, child;
  int stdin_fd;            /* write end of stdin, or the pty master; -1 when closed */
  struct log_stream out, err;
  struct client clients[MAX_CLIENTS];
  struct exit_record rec;
  char oom_file[4096];
  long long oom_before;
  int oom_fd;              /* readable when the memory cgroup may have met OOM; -1 if not watched */
  long long oom_reported;  /* OOM kills since the start told to watch clients */
  long long oom_settle_until;
  long long oom_last_ms;   /* monotonic ms when we last saw the counter go up */
  long long hold_until;    /* --wait-attach: monotonic ms until which output is held; 0 when not holding */
  int attach_backpressure; /* --wait-attach: the attach client is the output's consumer, it sets the pace */
  int exit_held, held_status;
  long long exit_ms;       /* monotonic ms of the process's exit */
  pid_t stray_pid;         /* a child reaped before we knew which one was the process */
  int stray_status;
  char sock_path[4096], console_path[4096];
} m;

static void warnx(const char *fmt, const char *arg) {
  dprintf(2, "berth-monitor: ");
  dprintf(2, fmt, arg);
  dprintf(2, "\n");
}

__attribute__((noreturn)) static void fail(const char *what) {
  int err = errno;
  dprintf(2, "berth-monitor: %s: %s\n", what, strerror(err));
  if (m.report_fd >= 0) dprintf(m.report_fd, "error %s: %s\n", what, strerror(err));
  if (m.sock_path[0]) unlink(m.sock_path);
  if (m.console_path[0]) unlink(m.console_path);
  _exit(1);
}

static void set_nonblock(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void close_client(struct client *c) {
  if (c->fd < 0) return;
  if (c->mode == C_ATTACH && c->stdin_in && c->stdin_once && m.stdin_fd >= 0 && !m.tty) {
    close(m.stdin_fd);
    m.stdin_fd = -1;
  }
  close(c->fd);
  c->fd = -1;
}

static void reply(struct client *c, const char *text) {
  if (write_all(c->fd, text, strlen(text)) != 0) close_client(c);
}

/* Output to attached clients. A client that cannot keep up is disconnected rather than slowing the process,
 * except with --wait-attach, where the client is the one the output is for: its socket blocks (up to
 * ATTACH_STALL_S), and so the process waits for it. */
static void broadcast(int stream, const char *data, size_t len) {
  unsigned char head[5] = { (unsigned char)stream, (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len };
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &m.clients[i];
    if (c->fd < 0 || c->mode != C_ATTACH) continue;
    if (m.attach_backpressure) {
      if (write_all(c->fd, head, 5) != 0 || write_all(c->fd, data, len) != 0) close_client(c);
      continue;
    }
    struct iovec iov[2] = { { head, 5 }, { (void *)data, len } };
    ssize_t n = writev(c->fd, iov, 2);
    if (n != (ssize_t)(len + 5)) close_client(c);
  }
}

static void close_stdin(void) {
  if (m.stdin_fd < 0) return;
  if (m.tty) {
    (void)!write(m.stdin_fd, "\x04", 1); /* the terminal's end-of-file character, as a typed Ctrl-D */
    return;
  }
  close(m.stdin_fd);
  m.stdin_fd = -1;
}

__attribute__((noreturn)) static void finish(int status);

/* The end of --wait-attach: output flows from now on; an exit that happened meanwhile is finished. */
static void release_hold(void) {
  if (!m.hold_until) return;
  m.hold_until = 0;
  if (m.exit_held) finish(m.held_status);
}

static void child_exited(int status) {
  /* The true time of the exit, also when --wait-attach makes us finish later. */
  clock_gettime(CLOCK_REALTIME, &m.rec.finished);
  m.exit_ms = now_ms();
  if (m.hold_until) {
    m.exit_held = 1;
    m.held_status = status;
    return;
  }
  finish(status);
}

static void tell_watchers(const char *line) {
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (m.clients[i].fd >= 0 && m.clients[i].mode == C_WATCH) reply(&m.clients[i], line);
}

/* Tells watch clients when the cgroup's oom_kill counter has gone up since we last looked. */
static void oom_check(void) {
  long long n = oom_count(m.oom_file);
  if (n < 0 || n - m.oom_before <= m.oom_reported) return;
  m.oom_reported = n - m.oom_before;
  m.oom_last_ms = now_ms();
  char line[64];
  snprintf(line, sizeof line, "oom %lld\n", m.oom_reported);
  tell_watchers(line);
}

static void run_command(struct client *c, char *line) {
  if (strcmp(line, "watch") == 0) {
    c->mode = C_WATCH;
    char out[80];
    if (m.oom_reported > 0) snprintf(out, sizeof out, "ok\noom %lld\n", m.oom_reported);
    else snprintf(out, sizeof out, "ok\n");
    reply(c, out);
    return;
  }
  if (strncmp(line, "attach", 6) == 0 && (line[6] == 0 || line[6] == ' ')) {
    c->mode = C_ATTACH;
    c->stdin_in = strstr(line, " stdin") != NULL;
    c->stdin_once = strstr(line, " once") != NULL;
    if (c->stdin_in && m.stdin_fd < 0) c->stdin_in = 0;
    if (m.attach_backpressure) {
      struct timeval tv = { .tv_sec = ATTACH_STALL_S };
      fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
      setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    release_hold();
    return;
  }
  char out[128];
  if (strcmp(line, "state") == 0) {
    snprintf(out, sizeof out, "pid %d started %d\n", (int)m.child, m.rec.started.tv_sec != 0);
    reply(c, out);
  } else if (strcmp(line, "started") == 0) {
    if (!m.rec.started.tv_sec) clock_gettime(CLOCK_REALTIME, &m.rec.started);
    reply(c, "ok\n");
  } else if (strcmp(line, "reopen") == 0) {
    if (log_reopen() == 0) reply(c, "ok\n");
    else {
      snprintf(out, sizeof out, "error reopen log: %s\n", strerror(errno));
      reply(c, out);
    }
  } else if (strncmp(line, "resize ", 7) == 0) {
    unsigned rows, cols;
    struct winsize ws;
    if (sscanf(line + 7, "%u %u", &rows, &cols) != 2 || rows > 65535 || cols > 65535) reply(c, "error resize: want <rows> <cols>\n");
    else if (!m.tty || m.stdin_fd < 0) reply(c, "error resize: the process has no terminal\n");
    else {
      memset(&ws, 0, sizeof ws);
      ws.ws_row = (unsigned short)rows;
      ws.ws_col = (unsigned short)cols;
      reply(c, ioctl(m.stdin_fd, TIOCSWINSZ, &ws) == 0 ? "ok\n" : "error resize: ioctl failed\n");
    }
  } else if (strcmp(line, "closestdin") == 0) {
    close_stdin();
    reply(c, "ok\n");
  } else {
    reply(c, "error unknown command\n");
  }
  close_client(c);
}

/* Pending stdin bytes of an attached client: written as far as the pipe takes them. */
static void push_stdin(struct client *c) {
  while (c->off < c->len) {
    if (m.stdin_fd < 0) {
      c->len = c->off = 0;
      return;
    }
    ssize_t n = write(m.stdin_fd, c->buf + c->off, c->len - c->off);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      c->len = c->off = 0; /* the process closed its stdin: input is dropped */
      return;
    }
    c->off += (size_t)n;
  }
  c->len = c->off = 0;
}

static void client_readable(struct client *c) {
  if (c->mode == C_ATTACH && c->stdin_in) {
    ssize_t n = read(c->fd, c->buf, sizeof c->buf);
    if (n == 0) {
      /* End of the client's input: with once, the process's stdin ends too; output keeps flowing. */
      if (c->stdin_once && !m.tty && m.stdin_fd >= 0) {
        close(m.stdin_fd);
        m.stdin_fd = -1;
      } else if (c->stdin_once) {
        close_stdin();
      }
      c->stdin_in = 0;
      c->in_eof = 1;
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN) close_client(c);
      return;
    }
    c->len = (size_t)n;
    c->off = 0;
    push_stdin(c);
    return;
  }
  if (c->mode != C_COMMAND) {
    char sink[256];
    ssize_t n = read(c->fd, sink, sizeof sink);
    if (n == 0 || (n < 0 && errno != EAGAIN)) close_client(c);
    return;
  }
  ssize_t n = read(c->fd, c->buf + c->len, 512 - c->len);
  if (n <= 0) {
    if (n < 0 && errno == EAGAIN) return;
    close_client(c);
    return;
  }
  c->len += (size_t)n;
  char *nl = memchr(c->buf, '\n', c->len);
  if (!nl) {
    if (c->len >= 512) close_client(c);
    return;
  }
  *nl = 0;
  size_t rest = c->len - (size_t)(nl + 1 - c->buf);
  char line[512];
  memcpy(line, c->buf, (size_t)(nl - c->buf) + 1);
  memmove(c->buf, nl + 1, rest);
  c->len = rest;
  c->off = 0;
  run_command(c, line);
  /* Input sent right behind "attach stdin" is the first stdin. */
  if (c->fd >= 0 && c->mode == C_ATTACH && c->stdin_in && c->len) push_stdin(c);
  else if (c->mode != C_ATTACH || !c->stdin_in) c->len = 0;
}

static void accept_clients(void) {
  for (;;) {
    int fd = accept4(m.listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    struct client *c = NULL;
    for (int i = 0; i < MAX_CLIENTS && !c; i++)
      if (m.clients[i].fd < 0) c = &m.clients[i];
    if (!c) {
      (void)!write(fd, "error too many clients\n", 23);
      close(fd);
      continue;
    }
    memset(c, 0, sizeof *c - sizeof c->buf);
    c->fd = fd;
    c->mode = C_COMMAND;
  }
}

static void accept_console(void) {
  int conn = accept4(m.console_listener, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0) return;
  /* The receive blocks briefly: the sender connects and sends in one go. */
  fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) & ~O_NONBLOCK);
  int master = sock_recv_fd(conn);
  close(conn);
  if (master < 0) return;
  set_nonblock(master);
  if (m.out.fd >= 0) close(m.out.fd);
  m.out.fd = master;
  m.stdin_fd = master;
  close(m.console_listener);
  m.console_listener = -1;
  unlink(m.console_path);
}

/* Reads what the process wrote: 1 after data, -1 when nothing is there now, 0 at end of stream (EOF, or EIO
 * once the pty has no slave left). */
static int pump(struct log_stream *s) {
  if (s->fd < 0) return 0;
  ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return -1;
  if (n <= 0) {
    log_flush(s);
    if (s->fd != m.stdin_fd) close(s->fd);
    s->fd = -1;
    return 0;
  }
  broadcast(s->id, s->buf + s->len, (size_t)n);
  log_consume(s, (size_t)n);
  return 1;
}

static int exit_code_of(int status, int *sig) {
  *sig = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    *sig = WTERMSIG(status);
    return 128 + *sig;
  }
  return 255;
}

static void finish(int status) {
  /* What the process wrote before it exited is still in the pipe: take it, without waiting for writers
   * (a background process may hold the pipe open forever). */
  struct log_stream *streams[2] = { &m.out, &m.err };
  for (int i = 0; i < 2; i++)
    while (pump(streams[i]) > 0) {}
  oom_check(); /* an OOM kill of the process itself is told as "oom" before its "exit" */
  log_flush(&m.out);
  log_flush(&m.err);
  m.rec.exit_code = exit_code_of(status, &m.rec.signal);
  /* The counter is the group's: a child killed earlier must not make a later SIGKILL of the process look like
   * OOM. Ours counts when the group's counter rose just before we saw the SIGKILL exit. */
  m.rec.oom_killed = m.rec.signal == SIGKILL && m.oom_last_ms && m.exit_ms - m.oom_last_ms <= OOM_SETTLE_MS;
  m.rec.oom_kills = m.oom_reported;
  if (exit_write(m.dir, &m.rec) != 0) warnx("write exit record in %s failed", m.dir);
  /* Gone from the directory before anyone is told: a client that reconnects finds the record instead. */
  unlink(m.sock_path);
  char line[64];
  unsigned char frame[9] = { 3, 0, 0, 0, 4 };
  int code = m.rec.exit_code;
  frame[5] = (unsigned char)(code >> 24); frame[6] = (unsigned char)(code >> 16);
  frame[7] = (unsigned char)(code >> 8); frame[8] = (unsigned char)code;
  snprintf(line, sizeof line, "exit %d\n", code);
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &m.clients[i];
    if (c->fd < 0) continue;
    if (c->mode == C_WATCH) write_all(c->fd, line, strlen(line));
    if (c->mode == C_ATTACH) write_all(c->fd, frame, sizeof frame);
    close(c->fd);
  }
  _exit(0);
}

/* After the launcher: our one remaining child is the process (its init was reparented to us). */
static void find_child(void) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
  if (fd >= 0) close(fd);
  if (n > 0) {
    buf[n] = 0;
    m.child = (pid_t)atoi(buf);
  }
  if (m.child <= 0 && m.stray_pid > 0) {
    m.child = m.stray_pid; /* it exited (and was reaped) before the launcher did */
  }
  if (m.child <= 0) {
    errno = ESRCH;
    fail("the launcher exited without leaving a process");
  }
  m.rec.pid = m.child;
  if (oom_locate(m.child, m.oom_file, sizeof m.oom_file) == 0) {
    m.oom_before = oom_count(m.oom_file);
    m.oom_fd = oom_watch_open(m.oom_file);
  }
  if (m.report_fd >= 0) {
    dprintf(m.report_fd, "pid %d\n", (int)m.child);
    close(m.report_fd);
    m.report_fd = -1;
  }
  if (m.child == m.stray_pid) child_exited(m.stray_status);
}

static void reap(void) {
  int status;
  pid_t p;
  while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
    if (p == m.launcher) {
      m.launcher = 0;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        int sig;
        int code = exit_code_of(status, &sig);
        if (m.report_fd >= 0) dprintf(m.report_fd, "error launcher exited with status %d\n", code);
        unlink(m.sock_path);
        if (m.console_path[0]) unlink(m.console_path);
        _exit(1);
      }
      find_child();
    } else if (m.child > 0 && p == m.child) {
      child_exited(status);
    } else if (m.child <= 0) {
      m.stray_pid = p;
      m.stray_status = status;
    }
    /* Anything else: an orphan from a process sharing our pid namespace. Reaped, not reported. */
  }
}

static void on_signal(void) {
  struct signalfd_siginfo si;
  while (read(m.sigfd, &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGCHLD) reap();
    else if (si.ssi_signo == SIGUSR1) log_reopen();
    /* SIGTERM, SIGINT, SIGHUP: the monitor stays as long as its process; berth-shim kills the process. */
  }
}

static void spawn_launcher(int in, int out, int err) {
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
    if (m.init) {
      char *args[] = { (char *)m.init, NULL };
      execv(m.init, args);
    } else {
      execvp(m.argv[0], m.argv);
    }
    dprintf(2, "berth-monitor: exec %s: %s\n", m.init ? m.init : m.argv[0], strerror(errno));
    _exit(127);
  }
  m.launcher = pid;
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      write_all(1, USAGE, sizeof USAGE - 1);
      _exit(0);
    } else if (strcmp(a, "--dir") == 0 && i + 1 < argc) m.dir = argv[++i];
    else if (strcmp(a, "--log") == 0 && i + 1 < argc) log_open(argv[++i]) == 0 ? (void)0 : fail("--log: open");
    else if (strcmp(a, "--tty") == 0) m.tty = 1;
    else if (strcmp(a, "--stdin") == 0) m.want_stdin = 1;
    else if (strcmp(a, "--init") == 0 && i + 1 < argc) m.init = argv[++i];
    else if (strcmp(a, "--wait-attach") == 0 && i + 1 < argc) {
      char *end;
      long secs = strtol(argv[++i], &end, 10);
      if (*end || secs <= 0 || secs > 86400) {
        dprintf(2, "berth-monitor: --wait-attach: want seconds between 1 and 86400, got \"%s\"\n", argv[i]);
        _exit(2);
      }
      m.hold_until = now_ms() + secs * 1000;
      m.attach_backpressure = 1;
    }
    else if (strcmp(a, "--") == 0 && i + 1 < argc) {
      m.argv = argv + i + 1;
      break;
    } else {
      dprintf(2, "berth-monitor: unknown or incomplete argument \"%s\"\n%s", a, USAGE);
      _exit(2);
    }
  }
  if (!m.dir || (!m.init == !m.argv)) {
    dprintf(2, "berth-monitor: need --dir and exactly one of --init or -- COMMAND\n%s", USAGE);
    _exit(2);
  }
}

int main(int argc, char **argv) {
  m.report_fd = m.listener = m.console_listener = m.stdin_fd = m.oom_fd = -1;
  m.out.fd = m.err.fd = -1;
  m.out.id = STREAM_STDOUT;
  m.err.id = STREAM_STDERR;
  for (int i = 0; i < MAX_CLIENTS; i++) m.clients[i].fd = -1;
  parse_args(argc, argv);
  /* Library mode: berth-run's sync socket stays on fd 3 for berth-init. Command mode: our report channel. */
  if (!m.init && fcntl(3, F_GETFD) >= 0) {
    m.report_fd = fcntl(3, F_DUPFD_CLOEXEC, 10);
    close(3);
  }
  if (m.init && cgroup_remember(getppid()) != 0) fail("read our parent's cgroups");
  setsid(); /* the shim's terminal and process group are not ours */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) fail("PR_SET_CHILD_SUBREAPER");
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);
  if ((m.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) fail("signalfd");

  snprintf(m.sock_path, sizeof m.sock_path, "%s/monitor.sock", m.dir);
  if ((m.listener = sock_listen(m.sock_path)) < 0) fail("listen on monitor.sock");
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) fail("open /dev/null");
  int child_in = null_fd, child_out = null_fd, child_err = null_fd;
  if (m.tty) {
    snprintf(m.console_path, sizeof m.console_path, "%s/console.sock", m.dir);
    if ((m.console_listener = sock_listen(m.console_path)) < 0) fail("listen on console.sock");
  } else {
    int o[2], e[2];
    if (pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0) fail("pipe");
    m.out.fd = o[0];
    m.err.fd = e[0];
    child_out = o[1];
    child_err = e[1];
    set_nonblock(m.out.fd);
    set_nonblock(m.err.fd);
    if (m.want_stdin) {
      int i[2];
      if (pipe2(i, O_CLOEXEC) != 0) fail("pipe");
      child_in = i[0];
      m.stdin_fd = i[1];
      set_nonblock(m.stdin_fd);
    }
  }

  if (m.init) {
    /* The plan arrives only after berth-run has put us in the container's cgroup: fork no earlier. */
    struct pollfd p = { .fd = 3, .events = POLLIN };
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {}
    if (!(p.revents & POLLIN)) _exit(1);
  }
  spawn_launcher(child_in, child_out, child_err);
  if (m.init) {
    close(3);
    if (cgroup_return() != 0) warnx("could not move back to our parent's cgroups%s", "");
  }
  if (child_in != null_fd) close(child_in);
  if (child_out != null_fd) close(child_out);
  if (child_err != null_fd) close(child_err);
  close(null_fd);

  for (;;) {
    struct pollfd fds[6 + MAX_CLIENTS];
    int n = 0;
    fds[n++] = (struct pollfd){ .fd = m.sigfd, .events = POLLIN };
    fds[n++] = (struct pollfd){ .fd = m.listener, .events = POLLIN };
    fds[n++] = (struct pollfd){ .fd = m.console_listener, .events = POLLIN };
    /* Held output stays in the pipe until the first attach client. */
    fds[n++] = (struct pollfd){ .fd = m.hold_until ? -1 : m.out.fd, .events = POLLIN };
    fds[n++] = (struct pollfd){ .fd = m.hold_until ? -1 : m.err.fd, .events = POLLIN };
    fds[n++] = (struct pollfd){ .fd = m.oom_fd, .events = POLLIN };
    int want_stdin_out = 0;
    for (int i = 0; i < MAX_CLIENTS; i++) {
      struct client *c = &m.clients[i];
      int pending = c->mode == C_ATTACH && c->stdin_in && c->len > c->off;
      if (pending) want_stdin_out = 1;
      fds[n++] = (struct pollfd){ .fd = pending || c->in_eof ? -1 : c->fd, .events = POLLIN };
    }
    /* The pty master is both an output and stdin: POLLOUT on it only while stdin is pending. */
    struct pollfd sfd = { .fd = want_stdin_out ? m.stdin_fd : -1, .events = POLLOUT };
    int timeout = -1;
    long long now = now_ms();
    struct log_stream *streams[2] = { &m.out, &m.err };
    for (int i = 0; i < 2; i++)
      if (streams[i]->len) {
        long long left = streams[i]->since + PARTIAL_FLUSH_MS - now;
        if (left < 0) left = 0;
        if (timeout < 0 || left < timeout) timeout = (int)left;
      }
    if (m.oom_settle_until && (timeout < 0 || timeout > OOM_RECHECK_MS)) timeout = OOM_RECHECK_MS;
    if (m.hold_until) {
      long long left = m.hold_until - now;
      if (left < 0) left = 0;
      if (timeout < 0 || left < timeout) timeout = (int)left;
    }
    int r = poll(fds, (nfds_t)n, want_stdin_out ? (timeout < 0 || timeout > 50 ? 50 : timeout) : timeout);
    if (want_stdin_out && poll(&sfd, 1, 0) > 0)
      for (int i = 0; i < MAX_CLIENTS; i++)
        if (m.clients[i].fd >= 0 && m.clients[i].len > m.clients[i].off) push_stdin(&m.clients[i]);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("poll");
    }
    now = now_ms();
    for (int i = 0; i < 2; i++)
      if (streams[i]->len && streams[i]->since + PARTIAL_FLUSH_MS <= now) log_flush(streams[i]);
    if (m.hold_until && m.hold_until <= now) release_hold();
    if (fds[3].revents) pump(&m.out);
    if (fds[4].revents) pump(&m.err);
    if (fds[5].revents) {
      oom_watch_drain(m.oom_fd);
      m.oom_settle_until = now + OOM_SETTLE_MS;
    }
    if (m.oom_settle_until) {
      oom_check();
      if (m.oom_settle_until <= now) m.oom_settle_until = 0;
    }
    if (fds[1].revents) accept_clients();
    if (fds[2].revents) accept_console();
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (fds[6 + i].fd >= 0 && fds[6 + i].revents && m.clients[i].fd == fds[6 + i].fd) client_readable(&m.clients[i]);
    if (fds[0].revents) on_signal();
  }
}
