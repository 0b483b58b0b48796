/* A stack socket used under a seccomp filter the program installed on itself, as OpenSSH's sshd
 * runs its pre-authentication child: run under the preload by t_pm_seccomp.sh against pm_peer.py
 * (echo on 9000).
 *
 * The program connects, forks, and the child installs a filter that allows only the calls the
 * child itself makes (read, write, writev, recvfrom, sendto, poll/ppoll, exit) and kills the
 * process for any other, as sshd's does. The child then exchanges data with the echo peer through
 * read/write, readv/writev, recv/send and a blocking read that waits for its data; a call the shim
 * added of its own (a sendto standing for a write, a poll or fcntl before a read) would get it
 * killed with SIGSYS. The parent reports how the child ended.
 * Usage: pm_seccomp KERNEL_IP. Prints one line per check and "PASS seccomp". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "an architecture this test knows"
#endif

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/* The child's filter: its own calls, anything else kills the process (SIGSYS). */
static void sandbox(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        ALLOW(__NR_read),
        ALLOW(__NR_write),
        ALLOW(__NR_readv),
        ALLOW(__NR_writev),
        ALLOW(__NR_recvfrom),
        ALLOW(__NR_sendto),
#ifdef __NR_poll
        ALLOW(__NR_poll),
#endif
        ALLOW(__NR_ppoll),
        ALLOW(__NR_rt_sigreturn),
        ALLOW(__NR_exit),
        ALLOW(__NR_exit_group),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0, "PR_SET_SECCOMP");
}

/* Reads exactly n bytes with read(2); 0 on success. No stdio under the filter (it may allocate):
 * the exit status tells the parent which step failed. */
static int read_all(int s, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(s, buf + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static void child(int s) {
    static char out[4096], in[4096];
    for (size_t i = 0; i < sizeof out; i++) out[i] = (char)('a' + i % 23);
    sandbox();
    /* write, then read back. */
    if (write(s, out, 1000) != 1000) _exit(10);
    if (read_all(s, in, 1000) || memcmp(in, out, 1000)) _exit(11);
    /* writev and readv. */
    struct iovec w[2] = {{out, 300}, {out + 300, 700}};
    if (writev(s, w, 2) != 1000) _exit(12);
    struct iovec r[2] = {{in, 500}, {in + 500, 500}};
    size_t got = 0;
    while (got < 1000) {
        ssize_t n = readv(s, r, 2);
        if (n <= 0) _exit(13);
        got += (size_t)n;
        /* The rest goes after what came (simple: read the rest plainly). */
        if (got < 1000) {
            if (read_all(s, in + got, 1000 - got)) _exit(13);
            got = 1000;
        }
    }
    if (memcmp(in, out, 1000)) _exit(13);
    /* send and recv (sendto and recvfrom underneath). */
    if (send(s, out, 2000, 0) != 2000) _exit(14);
    got = 0;
    while (got < 2000) {
        ssize_t n = recv(s, in + got, 2000 - got, 0);
        if (n <= 0) _exit(15);
        got += (size_t)n;
    }
    if (memcmp(in, out, 2000)) _exit(15);
    /* A blocking read that has to wait for its data: the echo of a write made just before. */
    for (int i = 0; i < 20; i++) {
        if (write(s, out + i, 100) != 100) _exit(16);
        if (read_all(s, in, 100) || memcmp(in, out + i, 100)) _exit(17);
    }
    _exit(0);
}

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: pm_seccomp KERNEL_IP");
    setvbuf(stdout, NULL, _IOLBF, 0);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0, "socket");
    struct sockaddr_in a = addr_of(argv[1], 9000);
    CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0, "connect to %s:9000", argv[1]);
    /* Data before the sandbox, so the socket is in use as the child finds it. */
    CHECK(write(s, "hello", 5) == 5, "write before the sandbox");
    char buf[8];
    CHECK(read(s, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0, "read before the sandbox");
    printf("ok: echo before the sandbox\n");
    alarm(20);
    pid_t p = fork();
    CHECK(p >= 0, "fork");
    if (p == 0) child(s);
    int st;
    CHECK(waitpid(p, &st, 0) == p, "waitpid");
    if (WIFSIGNALED(st)) {
        printf("FAIL: the sandboxed child was killed by %s (a call outside its filter)\n", sigabbrev_np(WTERMSIG(st)));
        return 1;
    }
    if (WEXITSTATUS(st) != 0) {
        printf("FAIL: the sandboxed child failed at step %d\n", WEXITSTATUS(st));
        return 1;
    }
    printf("ok: read/write, readv/writev, recv/send and a waiting read under a seccomp filter\n");
    /* The connection is still the parent's to use. */
    CHECK(write(s, "after", 5) == 5, "write after");
    CHECK(read(s, buf, 5) == 5 && memcmp(buf, "after", 5) == 0, "read after");
    printf("ok: echo after, in the parent\n");
    printf("PASS seccomp\n");
    return 0;
}
