/*
 * Test helper for test/oci/seccomp.test.ts: what berth-init does with a compiled filter, plus a syscall probe.
 *
 *   seccomp-loader FILTER FLAGS -- PROG [ARGS...]
 *       reads struct sock_filter[] from FILTER, sets no_new_privs, seccomp(SECCOMP_SET_MODE_FILTER, FLAGS)
 *       and execv()s PROG. Exits 125 if the filter cannot be loaded, 126 if exec fails.
 *   seccomp-loader --probe NR [A0..A5] [/ NR [A0..A5]]...
 *       makes each raw syscall in turn and prints "ret=R errno=E" per call (numbers: strtoull base 0).
 *   seccomp-loader --probe32 NR [A0..A4] [/ ...]
 *       same through int $0x80, i.e. the i386 ABI (seccomp sees AUDIT_ARCH_I386).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned long long num(const char *s) {
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "seccomp-loader: bad number %s\n", s);
		exit(2);
	}
	return v;
}

static long int80(unsigned long nr, const unsigned long *a) {
#if defined(__x86_64__)
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4])
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
#else
	(void)nr;
	(void)a;
	return -ENOSYS;
#endif
}

static int probe(int argc, char **argv, int compat) {
	int i = 0;
	while (i < argc) {
		unsigned long a[6] = {0};
		unsigned long nr = num(argv[i++]);
		int n = 0;
		while (i < argc && strcmp(argv[i], "/") != 0) {
			if (n == (compat ? 5 : 6)) {
				fprintf(stderr, "seccomp-loader: too many arguments\n");
				return 2;
			}
			a[n++] = num(argv[i++]);
		}
		if (i < argc) i++; /* skip "/" */
		long ret;
		int err = 0;
		if (compat) {
			ret = int80(nr, a);
			if (ret < 0 && ret > -4096) {
				err = (int)-ret;
				ret = -1;
			}
		} else {
			errno = 0;
			ret = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
			if (ret == -1) err = errno;
		}
		printf("ret=%ld errno=%d\n", ret, err);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc >= 3 && strcmp(argv[1], "--probe") == 0) return probe(argc - 2, argv + 2, 0);
	if (argc >= 3 && strcmp(argv[1], "--probe32") == 0) return probe(argc - 2, argv + 2, 1);
	if (argc < 5 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr, "usage: %s FILTER FLAGS -- PROG [ARGS...] | --probe NR [ARGS...]\n", argv[0]);
		return 2;
	}

	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror("seccomp-loader: open filter");
		return 125;
	}
	static struct sock_filter insns[4097];
	size_t n = fread(insns, sizeof(insns[0]), 4097, f);
	fclose(f);
	if (n == 0 || n > 4096) {
		fprintf(stderr, "seccomp-loader: filter has %zu instructions\n", n);
		return 125;
	}
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = insns};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("seccomp-loader: PR_SET_NO_NEW_PRIVS");
		return 125;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned int)num(argv[2]), &prog) != 0) {
		perror("seccomp-loader: seccomp");
		return 125;
	}
	execv(argv[4], argv + 4);
	/* The filter may deny write(2) too; the exit code still tells the test what happened. */
	perror("seccomp-loader: execv");
	return 126;
}
