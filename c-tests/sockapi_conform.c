/* sockapi_conform: the socket API called with good and bad arguments, one line per call, for
 * comparing the stack (under the preload) with the Linux kernel, by scripts/sockapi_conform.sh.
 *
 * Each line is "NN.MM what: result", where result is the return value and errno name, or the
 * value read back; only what a correct stack must reproduce exactly is printed (no addresses,
 * system-chosen ports, descriptor numbers or timings). Each numbered check runs in a child process
 * with an alarm, so a crash or a hang in one shows as a line ("killed by SIGSEGV", "SIGALRM")
 * and the others still run.
 *
 * Needs the kernel-side peer of the runner on 10.77.0.1: 9000 echo; 9001 sends the 20 bytes
 * "0123456789abcdefghij" then reads until end of file; 9002 records what it receives until end
 * of file; 9003 answers with everything 9002 recorded (once the recorders are done); 9004 reads a
 * port number and connects back to the caller on it (for accept cases); 9005 reads nothing until
 * a connection to 9006 comes (or 15 s pass), then reads until end of file. Nothing listens on 9999.
 * The program's own listeners are on 10.77.0.2. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/errqueue.h>
#include <linux/sockios.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif

#define KERNEL_IP "10.77.0.1"
#define STACK_IP "10.77.0.2"
#define ECHO 9000
#define SENDER 9001 /* sends SENDER_DATA, then reads until end of file */
#define SENDER_DATA "0123456789abcdefghij"
#define RECORDER 9002
#define RECORDED 9003
#define CALLBACK 9004
#define HOLD 9005    /* reads nothing until RELEASE is connected to, then until end of file */
#define RELEASE 9006
#define CLOSED_PORT 9999
#define LISTEN_BASE 7400 /* the program's listener in check N is on LISTEN_BASE + N */

static int checkno, sub;
/* NULL, hidden from the compiler (which refuses a literal NULL where a buffer must be). */
static void *volatile nullp;
#define NUL ((void *)nullp)
static char *noaccess; /* a page mapped PROT_NONE */
static char *lastpage; /* the readable page just before it: lastpage + 4096 - k straddles */

/* ---- output ---- */

static const char *ename(int e) {
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static void line(const char *what, const char *fmt, ...) {
    va_list ap;
    printf("%02d.%02d %s: ", checkno, ++sub, what);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* A name built with printf: one at a time (a static buffer). */
static const char *N(const char *fmt, ...) {
    static char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

static void report(const char *what, long r, int e, int is_fd) {
    if (r < 0)
        line(what, "%ld %s", r, ename(e));
    else if (is_fd)
        line(what, "fd");
    else
        line(what, "%ld", r);
}

/* R: a call returning a count or 0/-1; RFD: one returning a descriptor (printed as "fd"). Both
 * evaluate to the return value and leave errno as the call set it. */
#define R(what, expr)                                                                            \
    ({                                                                                           \
        errno = 0;                                                                               \
        long r_ = (long)(expr);                                                                  \
        int e_ = errno;                                                                          \
        report(what, r_, e_, 0);                                                                 \
        errno = e_;                                                                              \
        r_;                                                                                      \
    })
#define RFD(what, expr)                                                                          \
    ({                                                                                           \
        errno = 0;                                                                               \
        long r_ = (long)(expr);                                                                  \
        int e_ = errno;                                                                          \
        report(what, r_, e_, 1);                                                                 \
        errno = e_;                                                                              \
        (int)r_;                                                                                 \
    })

/* RX: like R, for a call that may crash the caller (bad pointers): made in a child process, so a
 * crash is a line ("killed by SIGSEGV") and the check goes on. The child shares the descriptors. */
#define RX(what, expr)                                                                           \
    do {                                                                                         \
        fflush(stdout);                                                                          \
        pid_t px_ = fork();                                                                      \
        need(px_ >= 0, "fork");                                                                  \
        if (px_ == 0) {                                                                          \
            alarm(10);                                                                           \
            R(what, expr);                                                                       \
            fflush(stdout);                                                                      \
            _exit(0);                                                                            \
        }                                                                                        \
        int st_;                                                                                 \
        while (waitpid(px_, &st_, 0) < 0 && errno == EINTR) {                                    \
        }                                                                                        \
        if (WIFSIGNALED(st_))                                                                    \
            line(what, "killed by %s", sigabbrev_np(WTERMSIG(st_)));                             \
        else                                                                                     \
            sub++;                                                                               \
    } while (0)

/* A step the check needs but does not test: on failure, a line and the end of this check. */
static void need(int ok, const char *what) {
    if (!ok) {
        line(N("setup %s", what), "failed %s", ename(errno));
        exit(3);
    }
}

/* Printable bytes. */
static const char *show(const void *p, long n) {
    static char buf[512];
    const unsigned char *b = p;
    size_t o = 0;
    if (n < 0) return "-";
    for (long i = 0; i < n && o + 5 < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, (b[i] >= 32 && b[i] < 127 && b[i] != '\\') ? "%c" : "\\x%02x", b[i]);
    buf[o] = 0;
    return buf;
}

static const char *hex(const void *p, size_t n) {
    static char buf[128];
    const unsigned char *b = p;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < sizeof buf; i++) o += (size_t)snprintf(buf + o, sizeof buf - o, "%02x", b[i]);
    buf[o] = 0;
    return buf;
}

/* ---- helpers ---- */

static struct sockaddr_in kaddr(int port) { return addr_of(KERNEL_IP, port); }
static struct sockaddr_in saddr(int port) { return addr_of(STACK_IP, port); }
#define SA(a) ((struct sockaddr *)&(a))

static int tcp(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    need(fd >= 0, "socket");
    return fd;
}

static int udp(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    need(fd >= 0, "socket udp");
    return fd;
}

static void timeouts(int fd) {
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void connect_to(int fd, int port) {
    struct sockaddr_in a = kaddr(port);
    need(connect(fd, SA(a), sizeof a) == 0, N("connect to %d", port));
    timeouts(fd);
}

static int conn(int port) {
    int fd = tcp();
    connect_to(fd, port);
    return fd;
}

/* Waits until fd is readable, then a little more, so that all a peer sent in one go is there. */
static void wait_readable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    need(poll(&p, 1, 5000) == 1, "poll readable");
    usleep(100000);
}

/* Reads what arrives within a second or until n bytes (or end of file). */
static long recv_some(int fd, char *buf, long n) {
    long got = 0;
    double end = now_s() + 2;
    while (got < n && now_s() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) != 1) continue;
        ssize_t k = recv(fd, buf + got, (size_t)(n - got), MSG_DONTWAIT);
        if (k < 0 && errno == EAGAIN) { /* readable for an error-queue event only */
            usleep(50000);
            continue;
        }
        if (k <= 0) break;
        got += k;
    }
    return got;
}

static int listener(void) {
    int fd = tcp();
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = saddr(LISTEN_BASE + checkno);
    need(bind(fd, SA(a), sizeof a) == 0, "bind listener");
    need(listen(fd, 8) == 0, "listen");
    return fd;
}

/* Has the peer connect to our listener, and waits until the connection is there to accept. The
 * control connection stays open (the peer holds its connection while it is). */
static void pending(int lfd) {
    int c = conn(CALLBACK);
    dprintf(c, "%d\n", LISTEN_BASE + checkno);
    wait_readable(lfd);
}

static void geti(int fd, int level, int opt, const char *what) {
    int v = -12345;
    socklen_t len = sizeof v;
    errno = 0;
    int r = getsockopt(fd, level, opt, &v, &len);
    if (r < 0)
        line(what, "%d %s", r, ename(errno));
    else
        line(what, "%d val=%d len=%u", r, v, len);
}

static int seti(int fd, int level, int opt, int v, const char *what) {
    return (int)R(what, setsockopt(fd, level, opt, &v, sizeof v));
}

/* ---- the checks ---- */

static void c_user_timeout(void) {
    int fd = tcp();
    seti(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 5000, "setsockopt(TCP_USER_TIMEOUT, 5000)");
    geti(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, "getsockopt(TCP_USER_TIMEOUT)");
    seti(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, -1, "setsockopt(TCP_USER_TIMEOUT, -1)");
    char c = 7;
    R("setsockopt(TCP_USER_TIMEOUT, 1-byte optlen)", setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &c, 1));
    seti(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 0, "setsockopt(TCP_USER_TIMEOUT, 0)");
    geti(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, "getsockopt(TCP_USER_TIMEOUT) after 0");
    connect_to(fd, ECHO);
    seti(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 3000, "connected: setsockopt(TCP_USER_TIMEOUT, 3000)");
    geti(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, "connected: getsockopt(TCP_USER_TIMEOUT)");
}

static void recvmsg_inq(int fd, size_t n, const char *what) {
    char data[64];
    union {
        char buf[CMSG_SPACE(sizeof(int)) * 4];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {data, n};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    errno = 0;
    ssize_t r = recvmsg(fd, &m, 0);
    if (r < 0) {
        line(what, "%zd %s", r, ename(errno));
        return;
    }
    char cm[200] = "";
    size_t o = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        int v = -1;
        if (c->cmsg_len >= CMSG_LEN(sizeof v)) memcpy(&v, CMSG_DATA(c), sizeof v);
        o += (size_t)snprintf(cm + o, sizeof cm - o, " cmsg(level=%d type=%d len=%zu val=%d)", c->cmsg_level,
                              c->cmsg_type, (size_t)c->cmsg_len, v);
    }
    line(what, "%zd \"%s\" flags=%#x%s", r, show(data, r), m.msg_flags, o ? cm : " no cmsg");
}

static void c_inq(void) {
    int fd = tcp();
    geti(fd, IPPROTO_TCP, TCP_INQ, "getsockopt(TCP_INQ) initially");
    seti(fd, IPPROTO_TCP, TCP_INQ, 2, "setsockopt(TCP_INQ, 2)");
    seti(fd, IPPROTO_TCP, TCP_INQ, 1, "setsockopt(TCP_INQ, 1)");
    geti(fd, IPPROTO_TCP, TCP_INQ, "getsockopt(TCP_INQ)");
    connect_to(fd, SENDER);
    wait_readable(fd);
    geti(fd, IPPROTO_TCP, TCP_INQ, "connected: getsockopt(TCP_INQ)");
    recvmsg_inq(fd, 5, "recvmsg 5 of 20 bytes with TCP_INQ");
    recvmsg_inq(fd, 64, "recvmsg the rest with TCP_INQ");
    seti(fd, IPPROTO_TCP, TCP_INQ, 0, "setsockopt(TCP_INQ, 0)");
    int fd2 = conn(SENDER);
    wait_readable(fd2);
    recvmsg_inq(fd2, 5, "recvmsg without TCP_INQ");
    /* Reading shut, what arrives is still queued (Linux's tcp_inq counts it all): SIOCINQ and
     * TCP_INQ's count include it. */
    int es = conn(ECHO);
    seti(es, IPPROTO_TCP, TCP_INQ, 1, "echo: setsockopt(TCP_INQ, 1)");
    R("  then shutdown(SHUT_RD)", shutdown(es, SHUT_RD));
    R("  then send(\"later, more\")", send(es, "later, more", 11, 0));
    usleep(300000);
    R("  then ioctl(FIONREAD)", ({ int v = -1; ioctl(es, FIONREAD, &v) < 0 ? -1 : v; }));
    recvmsg_inq(es, 5, "  then recvmsg 5 with TCP_INQ");
    R("  then ioctl(SIOCINQ)", ({ int v = -1; ioctl(es, SIOCINQ, &v) < 0 ? -1 : v; }));
    recvmsg_inq(es, 64, "  then recvmsg the rest with TCP_INQ");
    R("  then ioctl(SIOCINQ), nothing queued", ({ int v = -1; ioctl(es, SIOCINQ, &v) < 0 ? -1 : v; }));
    close(es);
}

static void c_notsent_lowat(void) {
    int fd = tcp();
    geti(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, "getsockopt(TCP_NOTSENT_LOWAT) initially");
    seti(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 16384, "setsockopt(TCP_NOTSENT_LOWAT, 16384)");
    geti(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, "getsockopt(TCP_NOTSENT_LOWAT)");
    connect_to(fd, ECHO);
    geti(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, "connected: getsockopt(TCP_NOTSENT_LOWAT)");
    seti(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 1, "connected: setsockopt(TCP_NOTSENT_LOWAT, 1)");
    geti(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, "connected: getsockopt(TCP_NOTSENT_LOWAT) after 1");
}

static void c_maxseg(void) {
    int fd = tcp();
    geti(fd, IPPROTO_TCP, TCP_MAXSEG, "getsockopt(TCP_MAXSEG) initially");
    seti(fd, IPPROTO_TCP, TCP_MAXSEG, 10, "setsockopt(TCP_MAXSEG, 10)");
    seti(fd, IPPROTO_TCP, TCP_MAXSEG, 70000, "setsockopt(TCP_MAXSEG, 70000)");
    seti(fd, IPPROTO_TCP, TCP_MAXSEG, 1100, "setsockopt(TCP_MAXSEG, 1100)");
    geti(fd, IPPROTO_TCP, TCP_MAXSEG, "getsockopt(TCP_MAXSEG) before connect");
    connect_to(fd, ECHO);
    geti(fd, IPPROTO_TCP, TCP_MAXSEG, "getsockopt(TCP_MAXSEG) after connect");
    int fd2 = conn(ECHO);
    geti(fd2, IPPROTO_TCP, TCP_MAXSEG, "getsockopt(TCP_MAXSEG) connected, not set");
}

/* An int option set with optlen 1, 0, 3 and 4096 (the buffer holds the int, then zeros), each on
 * a fresh socket, then read back. */
static void int_optlens(int level, int opt, const char *name, int val) {
    static const socklen_t lens[] = {1, 0, 3, 4, 4096};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        int fd = tcp();
        static int buf[1024];
        memset(buf, 0, sizeof buf);
        buf[0] = val;
        R(N("setsockopt(%s, %d, optlen %u)", name, val, lens[i]), setsockopt(fd, level, opt, buf, lens[i]));
        geti(fd, level, opt, N("  then getsockopt(%s)", name));
        close(fd);
    }
}

static void c_optlen_mtu(void) { int_optlens(IPPROTO_IP, IP_MTU_DISCOVER, "IP_MTU_DISCOVER", IP_PMTUDISC_DO); }
static void c_optlen_keepalive(void) { int_optlens(SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", 1); }
static void c_optlen_nodelay(void) { int_optlens(IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", 1); }
static void c_optlen_tos(void) { int_optlens(IPPROTO_IP, IP_TOS, "IP_TOS", 0x10); }

/* getsockopt of an int option with optlen 0, 1, 2, 3, -1 and 8: the return, the length written
 * back and the bytes written (the buffer is 0xaa before). */
static void get_optlens(int level, int opt, const char *name, int val) {
    static const int lens[] = {0, 1, 2, 3, -1, 8};
    int fd = tcp();
    if (val >= 0) seti(fd, level, opt, val, N("setsockopt(%s, %d)", name, val));
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        unsigned char buf[8];
        memset(buf, 0xaa, sizeof buf);
        socklen_t len = (socklen_t)lens[i];
        errno = 0;
        int r = getsockopt(fd, level, opt, buf, &len);
        const char *what = N("getsockopt(%s, optlen %d)", name, lens[i]);
        if (r < 0)
            line(what, "%d %s len=%d", r, ename(errno), (int)len);
        else
            line(what, "%d len=%d bytes=%s", r, (int)len, hex(buf, sizeof buf));
    }
}

static void c_getlen_keepalive(void) { get_optlens(SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", 1); }
static void c_getlen_nodelay(void) { get_optlens(IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", 1); }
static void c_getlen_tos(void) { get_optlens(IPPROTO_IP, IP_TOS, "IP_TOS", 0x10); }
static void c_getlen_type(void) { get_optlens(SOL_SOCKET, SO_TYPE, "SO_TYPE", -1); }

static void cc_info(int fd, const char *what) {
    unsigned char buf[64];
    socklen_t len = sizeof buf;
    errno = 0;
    int r = getsockopt(fd, IPPROTO_TCP, TCP_CC_INFO, buf, &len);
    if (r < 0)
        line(what, "%d %s", r, ename(errno));
    else
        line(what, "%d len=%u", r, len);
}

static void getcong(int fd, socklen_t size, const char *what) {
    char name[32];
    memset(name, 0, sizeof name);
    socklen_t len = size;
    errno = 0;
    int r = getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len);
    if (r < 0)
        line(what, "%d %s", r, ename(errno));
    else
        line(what, "%d \"%s\" len=%u", r, show(name, len), len);
}

static void setcong(int fd, const char *name, socklen_t len) {
    R(N("setsockopt(TCP_CONGESTION, \"%s\", optlen %u)", name, len), setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, len));
}

static void c_congestion(void) {
    int fd = tcp();
    cc_info(fd, "getsockopt(TCP_CC_INFO) unconnected");
    getcong(fd, 16, "getsockopt(TCP_CONGESTION, 16) initially");
    setcong(fd, "cubic", 5);
    getcong(fd, 16, "getsockopt(TCP_CONGESTION, 16)");
    cc_info(fd, "getsockopt(TCP_CC_INFO) cubic");
    setcong(fd, "reno", 4);
    getcong(fd, 16, "getsockopt(TCP_CONGESTION, 16)");
    getcong(fd, 3, "getsockopt(TCP_CONGESTION, 3)");
    setcong(fd, "nosuchcc", 8);
    setcong(fd, "cubic", 0);
    setcong(fd, "cubic", 6); /* with its NUL */
    getcong(fd, 16, "getsockopt(TCP_CONGESTION, 16)");
    connect_to(fd, ECHO);
    cc_info(fd, "connected: getsockopt(TCP_CC_INFO) cubic");
    setcong(fd, "reno", 4);
    getcong(fd, 16, "connected: getsockopt(TCP_CONGESTION, 16)");
    cc_info(fd, "connected: getsockopt(TCP_CC_INFO) reno");
    setcong(fd, "bbr", 3);
    getcong(fd, 16, "connected: getsockopt(TCP_CONGESTION, 16)");
    cc_info(fd, "connected: getsockopt(TCP_CC_INFO) bbr");
}

/* SO_BINDTODEVICE read back on a socket bound to no device: nothing, length 0, whatever the
 * buffer (OpenSSH's sshd asks it of every connection, for its VRF, and logs an error if refused). */
static void getdev(int fd, socklen_t size, const char *what) {
    char name[32];
    memset(name, 'x', sizeof name);
    socklen_t len = size;
    errno = 0;
    int r = getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, &len);
    if (r < 0)
        line(what, "%d %s", r, ename(errno));
    else
        line(what, "%d \"%s\" len=%u", r, show(name, len), len);
}

static void c_bindtodevice(void) {
    int fd = tcp();
    connect_to(fd, ECHO);
    getdev(fd, 16, "connected: getsockopt(SO_BINDTODEVICE, 16)");
    getdev(fd, 4, "connected: getsockopt(SO_BINDTODEVICE, 4)");
    geti(fd, SOL_SOCKET, SO_BINDTOIFINDEX, "connected: getsockopt(SO_BINDTOIFINDEX)");
    int u = udp();
    struct sockaddr_in a = kaddr(ECHO);
    need(connect(u, SA(a), sizeof a) == 0, "connect udp");
    getdev(u, 16, "udp: getsockopt(SO_BINDTODEVICE, 16)");
    geti(u, SOL_SOCKET, SO_BINDTOIFINDEX, "udp: getsockopt(SO_BINDTOIFINDEX)");
}

static void c_zerocopy(void) {
    int fd = tcp();
    geti(fd, SOL_SOCKET, SO_ZEROCOPY, "getsockopt(SO_ZEROCOPY) initially");
    seti(fd, SOL_SOCKET, SO_ZEROCOPY, 2, "setsockopt(SO_ZEROCOPY, 2)");
    seti(fd, SOL_SOCKET, SO_ZEROCOPY, 1, "setsockopt(SO_ZEROCOPY, 1)");
    geti(fd, SOL_SOCKET, SO_ZEROCOPY, "getsockopt(SO_ZEROCOPY)");
    connect_to(fd, ECHO);
    char msg[100], back[200];
    memset(msg, 'z', sizeof msg);
    R("send(100, MSG_ZEROCOPY) with SO_ZEROCOPY", send(fd, msg, sizeof msg, MSG_ZEROCOPY));
    line("  echo of it", "%ld bytes", recv_some(fd, back, 100));
    struct pollfd p = {.fd = fd, .events = 0};
    int pr = poll(&p, 1, 2000);
    line("  poll for the completion", "%d revents&POLLERR=%d", pr, (p.revents & POLLERR) != 0);
    union {
        char buf[256];
        struct cmsghdr align;
    } ctl;
    struct msghdr m = {.msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    errno = 0;
    ssize_t r = recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (r < 0) {
        line("  recvmsg(MSG_ERRQUEUE)", "%zd %s", r, ename(errno));
    } else {
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (!c) {
            line("  recvmsg(MSG_ERRQUEUE)", "%zd no cmsg", r);
        } else {
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(c), sizeof ee);
            line("  recvmsg(MSG_ERRQUEUE)", "%zd cmsg(level=%d type=%d) ee_errno=%u ee_origin=%u ee_info=%u ee_data=%u", r,
                 c->cmsg_level, c->cmsg_type, ee.ee_errno, ee.ee_origin, ee.ee_info, ee.ee_data);
        }
    }
    int fd2 = conn(ECHO);
    R("send(100, MSG_ZEROCOPY) without SO_ZEROCOPY", send(fd2, msg, sizeof msg, MSG_ZEROCOPY));
    line("  echo of it", "%ld bytes", recv_some(fd2, back, 100));
    int u = udp();
    seti(u, SOL_SOCKET, SO_ZEROCOPY, 1, "udp: setsockopt(SO_ZEROCOPY, 1)");
    /* SO_SELECT_ERR_QUEUE, which Linux's sock_setsockopt keeps on any socket: chronyd sets it
     * before SO_TIMESTAMPING and gives the latter up if it is refused. */
    int e = udp();
    struct sockaddr_in any = {.sin_family = AF_INET};
    need(bind(e, SA(any), sizeof any) == 0, "bind udp");
    geti(e, SOL_SOCKET, SO_SELECT_ERR_QUEUE, "udp: getsockopt(SO_SELECT_ERR_QUEUE) initially");
    seti(e, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1, "udp: setsockopt(SO_SELECT_ERR_QUEUE, 1)");
    geti(e, SOL_SOCKET, SO_SELECT_ERR_QUEUE, "udp: getsockopt(SO_SELECT_ERR_QUEUE)");
    seti(fd2, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1, "setsockopt(SO_SELECT_ERR_QUEUE, 1)");
    geti(fd2, SOL_SOCKET, SO_SELECT_ERR_QUEUE, "getsockopt(SO_SELECT_ERR_QUEUE)");
}

static double real_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A receive with a control buffer of `room` bytes: the control messages' types, each with
 * whether its time lies between `before` and the call's return, and MSG_CTRUNC. */
static void stamped_recv(const char *what, int fd, double before, size_t room, int flags) {
    char data[64];
    union {
        char buf[512];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {data, sizeof data};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = room};
    errno = 0;
    ssize_t r = recvmsg(fd, &m, flags);
    double after = real_s();
    if (r < 0) {
        line(what, "%zd %s", r, ename(errno));
        return;
    }
    char cm[300] = "";
    size_t o = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c && o < sizeof cm; c = CMSG_NXTHDR(&m, c)) {
        /* Every form is two 64-bit words at first: seconds, then micro- or nanoseconds. */
        long long w[2] = {0, 0};
        if (c->cmsg_len >= CMSG_LEN(sizeof w)) memcpy(w, CMSG_DATA(c), sizeof w);
        int micro = c->cmsg_type == SO_TIMESTAMP || c->cmsg_type == 63 /* SO_TIMESTAMP_NEW */;
        double t = (double)w[0] + (double)w[1] / (micro ? 1e6 : 1e9);
        int in_time = t >= before - 0.001 && t <= after + 0.001;
        o += (size_t)snprintf(cm + o, sizeof cm - o, " cmsg(level=%d type=%d %s)", c->cmsg_level,
                              c->cmsg_type, in_time ? "in time" : "OUT OF TIME");
    }
    line(what, "%zd%s%s", r, o ? cm : " no cmsg", m.msg_flags & MSG_CTRUNC ? " MSG_CTRUNC" : "");
}

static void c_timestamping(void) {
    double before = real_s();
    /* Linux stamps arriving packets only once some socket asked for it, and turns that on in a
     * deferred work item: a socket that asks first, and a moment for the work to run, so the
     * kernel's own run never misses a stamp on data that arrives right after the connect. */
    int enabler = socket(AF_INET, SOCK_DGRAM, 0);
    int on = 1;
    setsockopt(enabler, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on);
    usleep(50000);
    int fd = tcp();
    geti(fd, SOL_SOCKET, SO_TIMESTAMPING, "getsockopt(SO_TIMESTAMPING) initially");
    int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    seti(fd, SOL_SOCKET, SO_TIMESTAMPING, flags, "setsockopt(SO_TIMESTAMPING, RX_SOFTWARE|SOFTWARE)");
    geti(fd, SOL_SOCKET, SO_TIMESTAMPING, "getsockopt(SO_TIMESTAMPING)");
    seti(fd, SOL_SOCKET, SO_TIMESTAMPING, 1 << 30, "setsockopt(SO_TIMESTAMPING, 1<<30)");
    seti(fd, SOL_SOCKET, SO_TIMESTAMP, 1, "setsockopt(SO_TIMESTAMP, 1)");
    geti(fd, SOL_SOCKET, SO_TIMESTAMP, "getsockopt(SO_TIMESTAMP)");
    connect_to(fd, SENDER);
    wait_readable(fd);
    stamped_recv("recvmsg with timestamps on", fd, before, 512, 0);

    /* The values, set on a connected socket, in nanoseconds and the new format. */
    int fd2 = conn(ECHO);
    seti(fd2, SOL_SOCKET, SO_TIMESTAMPNS, 1, "connected: setsockopt(SO_TIMESTAMPNS, 1)");
    geti(fd2, SOL_SOCKET, SO_TIMESTAMP, "connected: getsockopt(SO_TIMESTAMP)");
    geti(fd2, SOL_SOCKET, SO_TIMESTAMPNS, "connected: getsockopt(SO_TIMESTAMPNS)");
    R("connected: send", send(fd2, "abc", 3, 0));
    wait_readable(fd2);
    stamped_recv("connected: recvmsg with SO_TIMESTAMPNS", fd2, before, 512, 0);
    seti(fd2, SOL_SOCKET, 65 /* SO_TIMESTAMPING_NEW */, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE,
         "connected: setsockopt(SO_TIMESTAMPING_NEW, RX_SOFTWARE|SOFTWARE)");
    seti(fd2, SOL_SOCKET, 63 /* SO_TIMESTAMP_NEW */, 1, "connected: setsockopt(SO_TIMESTAMP_NEW, 1)");
    R("connected: send", send(fd2, "def", 3, 0));
    wait_readable(fd2);
    stamped_recv("connected: recvmsg, SO_TIMESTAMP_NEW and SO_TIMESTAMPING_NEW", fd2, before, 512, 0);
    seti(fd2, SOL_SOCKET, SO_TIMESTAMP, 0, "connected: setsockopt(SO_TIMESTAMP, 0)");
    R("connected: send", send(fd2, "ghi", 3, 0));
    wait_readable(fd2);
    stamped_recv("connected: recvmsg, 20 bytes of control room", fd2, before, 20, 0);
    stamped_recv("connected: recvmsg, nothing to read", fd2, before, 512, MSG_DONTWAIT);
    seti(fd2, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE,
         "connected: setsockopt(SO_TIMESTAMPING, TX_SOFTWARE|SOFTWARE)");

    /* Inherited by an accepted connection from its listener. */
    int lfd = listener();
    seti(lfd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "listener: setsockopt(SO_TIMESTAMPNS, 1)");
    pending(lfd);
    int afd = accept(lfd, NULL, NULL);
    geti(afd, SOL_SOCKET, SO_TIMESTAMPNS, "accepted: getsockopt(SO_TIMESTAMPNS)");

    /* UDP: a datagram to itself. */
    int u = udp();
    struct sockaddr_in a = saddr(0);
    socklen_t alen = sizeof a;
    need(bind(u, SA(a), sizeof a) == 0 && getsockname(u, SA(a), &alen) == 0, "bind udp");
    seti(u, SOL_SOCKET, SO_TIMESTAMPNS, 1, "udp: setsockopt(SO_TIMESTAMPNS, 1)");
    seti(u, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE,
         "udp: setsockopt(SO_TIMESTAMPING, RX_SOFTWARE|SOFTWARE)");
    for (int i = 0; i < 2; i++) R("udp: sendto itself", sendto(u, "stamp", 5, 0, SA(a), sizeof a));
    wait_readable(u);
    stamped_recv("udp: recvmsg", u, before, 512, 0);
    stamped_recv("udp: recvmsg, 20 bytes of control room", u, before, 20, 0);
    close(u);
    close(afd);
    close(lfd);
    close(fd2);
    close(enabler);
}

static void c_cork_quickack(void) {
    int fd = tcp();
    geti(fd, IPPROTO_TCP, TCP_CORK, "getsockopt(TCP_CORK) initially");
    seti(fd, IPPROTO_TCP, TCP_CORK, 1, "setsockopt(TCP_CORK, 1)");
    geti(fd, IPPROTO_TCP, TCP_CORK, "getsockopt(TCP_CORK)");
    seti(fd, IPPROTO_TCP, TCP_CORK, 5, "setsockopt(TCP_CORK, 5)");
    geti(fd, IPPROTO_TCP, TCP_CORK, "getsockopt(TCP_CORK)");
    seti(fd, IPPROTO_TCP, TCP_CORK, 0, "setsockopt(TCP_CORK, 0)");
    geti(fd, IPPROTO_TCP, TCP_CORK, "getsockopt(TCP_CORK)");
    geti(fd, IPPROTO_TCP, TCP_QUICKACK, "getsockopt(TCP_QUICKACK) initially");
    seti(fd, IPPROTO_TCP, TCP_QUICKACK, 0, "setsockopt(TCP_QUICKACK, 0)");
    geti(fd, IPPROTO_TCP, TCP_QUICKACK, "getsockopt(TCP_QUICKACK)");
    seti(fd, IPPROTO_TCP, TCP_QUICKACK, 1, "setsockopt(TCP_QUICKACK, 1)");
    geti(fd, IPPROTO_TCP, TCP_QUICKACK, "getsockopt(TCP_QUICKACK)");
    connect_to(fd, ECHO);
    seti(fd, IPPROTO_TCP, TCP_CORK, 1, "connected: setsockopt(TCP_CORK, 1)");
    geti(fd, IPPROTO_TCP, TCP_CORK, "connected: getsockopt(TCP_CORK)");
    R("connected: send 5 corked", send(fd, "hello", 5, 0));
    seti(fd, IPPROTO_TCP, TCP_CORK, 0, "connected: setsockopt(TCP_CORK, 0)");
    char back[16];
    line("  echo after uncork", "%ld bytes", recv_some(fd, back, 5));
    seti(fd, IPPROTO_TCP, TCP_QUICKACK, 0, "connected: setsockopt(TCP_QUICKACK, 0)");
    geti(fd, IPPROTO_TCP, TCP_QUICKACK, "connected: getsockopt(TCP_QUICKACK)");
    seti(fd, IPPROTO_TCP, TCP_QUICKACK, 1, "connected: setsockopt(TCP_QUICKACK, 1)");
    geti(fd, IPPROTO_TCP, TCP_QUICKACK, "connected: getsockopt(TCP_QUICKACK)");
}

/* TCP_QUICKACK 0 on a bound socket is kept for its connection; listen clears it (Linux's
 * inet_csk_listen_start), and a listener takes it again and passes it to what it accepts. */
static void c_quickack_listen(void) {
    int fd = tcp();
    struct sockaddr_in a = saddr(LISTEN_BASE + checkno);
    need(bind(fd, SA(a), sizeof a) == 0, "bind");
    seti(fd, IPPROTO_TCP, TCP_QUICKACK, 0, "bound: setsockopt(TCP_QUICKACK, 0)");
    geti(fd, IPPROTO_TCP, TCP_QUICKACK, "bound: getsockopt(TCP_QUICKACK)");
    need(listen(fd, 8) == 0, "listen");
    geti(fd, IPPROTO_TCP, TCP_QUICKACK, "listening: getsockopt(TCP_QUICKACK)");
    seti(fd, IPPROTO_TCP, TCP_QUICKACK, 0, "listening: setsockopt(TCP_QUICKACK, 0)");
    geti(fd, IPPROTO_TCP, TCP_QUICKACK, "listening: getsockopt(TCP_QUICKACK)");
    close(fd);
    fd = tcp();
    a = saddr(0);
    need(bind(fd, SA(a), sizeof a) == 0, "bind");
    seti(fd, IPPROTO_TCP, TCP_QUICKACK, 0, "client: setsockopt(TCP_QUICKACK, 0)");
    connect_to(fd, ECHO);
    geti(fd, IPPROTO_TCP, TCP_QUICKACK, "client connected: getsockopt(TCP_QUICKACK)");
    close(fd);
    int l = listener();
    seti(l, IPPROTO_TCP, TCP_QUICKACK, 0, "listener: setsockopt(TCP_QUICKACK, 0)");
    pending(l);
    int c = accept(l, NULL, NULL);
    need(c >= 0, "accept");
    geti(c, IPPROTO_TCP, TCP_QUICKACK, "accepted: getsockopt(TCP_QUICKACK)");
    close(c);
    close(l);
}

static void c_bufs(void) {
    static const int vals[] = {4096, 1, 0, -1, 100000, 1 << 30};
    static const struct {
        int opt;
        const char *name;
    } opts[] = {{SO_RCVBUF, "SO_RCVBUF"}, {SO_SNDBUF, "SO_SNDBUF"}};
    for (size_t o = 0; o < 2; o++)
        for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
            int fd = tcp();
            seti(fd, SOL_SOCKET, opts[o].opt, vals[i], N("setsockopt(%s, %d)", opts[o].name, vals[i]));
            geti(fd, SOL_SOCKET, opts[o].opt, N("  then getsockopt(%s)", opts[o].name));
            close(fd);
        }
    int u = udp();
    seti(u, SOL_SOCKET, SO_RCVBUF, 4096, "udp: setsockopt(SO_RCVBUF, 4096)");
    geti(u, SOL_SOCKET, SO_RCVBUF, "udp: getsockopt(SO_RCVBUF)");
    seti(u, SOL_SOCKET, SO_SNDBUF, 1, "udp: setsockopt(SO_SNDBUF, 1)");
    geti(u, SOL_SOCKET, SO_SNDBUF, "udp: getsockopt(SO_SNDBUF)");
}

static void c_linger(void) {
    int fd = tcp();
    struct linger l = {1, 5};
    R("setsockopt(SO_LINGER, optlen 4)", setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, 4));
    R("setsockopt(SO_LINGER, optlen 0)", setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, 0));
    R("setsockopt(SO_LINGER, optlen 7)", setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, 7));
    R("setsockopt(SO_LINGER, {1,5})", setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l));
    struct linger big[2] = {{1, 7}, {0, 0}};
    R("setsockopt(SO_LINGER, {1,7}, optlen 16)", setsockopt(fd, SOL_SOCKET, SO_LINGER, big, sizeof big));
    struct linger g[2];
    memset(g, 0xaa, sizeof g);
    socklen_t len = sizeof g[0];
    errno = 0;
    int r = getsockopt(fd, SOL_SOCKET, SO_LINGER, g, &len);
    line("getsockopt(SO_LINGER)", "%d%s len=%u onoff=%d linger=%d", r, r < 0 ? N(" %s", ename(errno)) : "", len, g[0].l_onoff,
         g[0].l_linger);
    memset(g, 0xaa, sizeof g);
    len = 4;
    errno = 0;
    r = getsockopt(fd, SOL_SOCKET, SO_LINGER, g, &len);
    line("getsockopt(SO_LINGER, optlen 4)", "%d%s len=%u bytes=%s", r, r < 0 ? N(" %s", ename(errno)) : "", len, hex(g, 8));
    memset(g, 0xaa, sizeof g);
    len = sizeof g;
    errno = 0;
    r = getsockopt(fd, SOL_SOCKET, SO_LINGER, g, &len);
    line("getsockopt(SO_LINGER, optlen 16)", "%d%s len=%u bytes=%s", r, r < 0 ? N(" %s", ename(errno)) : "", len, hex(g, 16));
    l.l_onoff = 0;
    R("setsockopt(SO_LINGER, {0,5})", setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l));
    len = sizeof g[0];
    r = getsockopt(fd, SOL_SOCKET, SO_LINGER, g, &len);
    line("getsockopt(SO_LINGER)", "%d len=%u onoff=%d linger=%d", r, len, g[0].l_onoff, g[0].l_linger);
}

/* What the recorder on 9002 got, once every connection to it has ended. */
static void recorded(const char *what) {
    int c = conn(RECORDED);
    char buf[256];
    long n = recv_some(c, buf, sizeof buf);
    line(what, "\"%s\"", show(buf, n));
    close(c);
}

/* sendto(MSG_FASTOPEN) in a grandchild with SIGPIPE at its default: how it ended, and what the
 * listener got. */
static void c_fastopen(void) {
    fflush(stdout);
    pid_t p = fork();
    need(p >= 0, "fork");
    if (p == 0) {
        signal(SIGPIPE, SIG_DFL);
        alarm(10);
        int fd = tcp();
        struct sockaddr_in a = kaddr(RECORDER);
        R("unconnected: sendto(\"fastopen-data\", MSG_FASTOPEN)", sendto(fd, "fastopen-data", 13, MSG_FASTOPEN, SA(a), sizeof a));
        usleep(300000);
        R("  then send(\"+more\")", send(fd, "+more", 5, 0));
        usleep(300000);
        close(fd);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    sub += 2;
    if (WIFSIGNALED(st))
        line("  the child", "killed by %s", sigabbrev_np(WTERMSIG(st)));
    else
        line("  the child", "exited %d", WEXITSTATUS(st));
    recorded("  the listener got");

    int fd = conn(ECHO);
    struct sockaddr_in a = kaddr(ECHO);
    R("connected: sendto(\"x\", MSG_FASTOPEN)", sendto(fd, "x", 1, MSG_FASTOPEN, SA(a), sizeof a));
    int fd2 = tcp();
    R("unconnected: sendto(\"x\", MSG_FASTOPEN) without address", sendto(fd2, "x", 1, MSG_FASTOPEN, NULL, 0));
    int fd3 = tcp();
    struct sockaddr_in closed = kaddr(CLOSED_PORT);
    R("unconnected: sendto(\"x\", MSG_FASTOPEN) to a closed port", sendto(fd3, "x", 1, MSG_FASTOPEN, SA(closed), sizeof closed));
    usleep(300000);
    int err = -1;
    socklen_t len = sizeof err;
    getsockopt(fd3, SOL_SOCKET, SO_ERROR, &err, &len);
    line("  then SO_ERROR", "%s", err ? ename(err) : "0");
    int u = udp();
    R("udp: sendto(\"x\", MSG_FASTOPEN)", sendto(u, "x", 1, MSG_FASTOPEN, SA(closed), sizeof closed));

    /* The Fast Open options, as Linux checks them (tcp_fastopen 1 here: the client side only). */
    int five = 5, seven = 7, minus = -1, one = 1, two = 2;
    int l = tcp();
    R("setsockopt(TCP_FASTOPEN, 5) before listen", setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN, &five, sizeof five));
    R("setsockopt(TCP_FASTOPEN, -1)", setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN, &minus, sizeof minus));
    struct sockaddr_in la = saddr(LISTEN_BASE + checkno);
    need(bind(l, SA(la), sizeof la) == 0 && listen(l, 8) == 0, "bind and listen");
    geti(l, IPPROTO_TCP, TCP_FASTOPEN, "  then getsockopt(TCP_FASTOPEN) listening");
    unsigned char none[32];
    socklen_t nlen = sizeof none;
    int nr = getsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_KEY, none, &nlen);
    line("  getsockopt(TCP_FASTOPEN_KEY) without a key of its own", "%d len=%u", nr, nlen);
    R("  setsockopt(TCP_FASTOPEN, 7) listening", setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN, &seven, sizeof seven));
    geti(l, IPPROTO_TCP, TCP_FASTOPEN, "  then getsockopt(TCP_FASTOPEN)");
    unsigned char key[16], got[32];
    for (int i = 0; i < 16; i++) key[i] = (unsigned char)i;
    R("  setsockopt(TCP_FASTOPEN_KEY, 15 bytes)", setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_KEY, key, 15));
    R("  setsockopt(TCP_FASTOPEN_KEY, 16 bytes)", setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_KEY, key, 16));
    socklen_t glen = sizeof got;
    int gr = getsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_KEY, got, &glen);
    line("  then getsockopt(TCP_FASTOPEN_KEY)", "%d len=%u %s", gr, glen, gr == 0 ? hex(got, glen) : ename(errno));
    /* 32 bytes: a primary and a backup key, both read back. */
    unsigned char key2[32];
    for (int i = 0; i < 32; i++) key2[i] = (unsigned char)(0xa0 + i);
    R("  setsockopt(TCP_FASTOPEN_KEY, 32 bytes)", setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_KEY, key2, 32));
    glen = sizeof got;
    gr = getsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_KEY, got, &glen);
    line("  then getsockopt(TCP_FASTOPEN_KEY)", "%d len=%u %s", gr, glen, gr == 0 ? hex(got, glen) : ename(errno));
    glen = 20;
    gr = getsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_KEY, got, &glen);
    line("  then getsockopt(TCP_FASTOPEN_KEY) into 20 bytes", "%d len=%u %s", gr, glen, gr == 0 ? hex(got, glen) : ename(errno));
    R("  setsockopt(TCP_FASTOPEN_NO_COOKIE, 2)", setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, &two, sizeof two));
    R("  setsockopt(TCP_FASTOPEN_NO_COOKIE, 1)", setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, &one, sizeof one));
    geti(l, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, "  then getsockopt(TCP_FASTOPEN_NO_COOKIE)");
    int c = conn(ECHO);
    R("connected: setsockopt(TCP_FASTOPEN, 5)", setsockopt(c, IPPROTO_TCP, TCP_FASTOPEN, &five, sizeof five));
    R("connected: setsockopt(TCP_FASTOPEN_CONNECT, 1)", setsockopt(c, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one));
    geti(c, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, "  then getsockopt(TCP_FASTOPEN_CONNECT)");
    geti(c, IPPROTO_TCP, TCP_FASTOPEN, "  getsockopt(TCP_FASTOPEN)");
    R("connected: setsockopt(TCP_FASTOPEN_NO_COOKIE, 1)", setsockopt(c, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, &one, sizeof one));
    geti(c, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, "  then getsockopt(TCP_FASTOPEN_NO_COOKIE)");
    int f = tcp();
    R("setsockopt(TCP_FASTOPEN_CONNECT, 2)", setsockopt(f, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &two, sizeof two));
    R("setsockopt(TCP_FASTOPEN_CONNECT, 1)", setsockopt(f, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one));
    fcntl(f, F_SETFL, O_NONBLOCK);
    struct sockaddr_in e = kaddr(ECHO);
    R("  then a non-blocking connect (no cookie: the SYN asks for one)", connect(f, SA(e), sizeof e));
    int g = tcp();
    fcntl(g, F_SETFL, O_NONBLOCK);
    R("non-blocking sendto(\"x\", MSG_FASTOPEN), no cookie", sendto(g, "x", 1, MSG_FASTOPEN, SA(e), sizeof e));
    geti(g, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, "  then getsockopt(TCP_FASTOPEN_CONNECT)");
    struct sockaddr_in unspec = {.sin_family = AF_UNSPEC};
    int h = tcp();
    R("sendto(\"x\", MSG_FASTOPEN) to AF_UNSPEC", sendto(h, "x", 1, MSG_FASTOPEN, SA(unspec), sizeof unspec));
    /* A socket bound first (on the stack, no longer pending). */
    struct sockaddr_in any = saddr(0);
    need(bind(h, SA(any), sizeof any) == 0, "bind");
    R("bound: sendto(\"x\", MSG_FASTOPEN) without address", sendto(h, "x", 1, MSG_FASTOPEN, NULL, 0));
    R("bound: sendto(\"x\", MSG_FASTOPEN) to AF_UNSPEC", sendto(h, "x", 1, MSG_FASTOPEN, SA(unspec), sizeof unspec));
    R("bound: sendto(\"bound-data\", MSG_FASTOPEN)", sendto(h, "bound-data", 10, MSG_FASTOPEN, SA(e), sizeof e));
    geti(h, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, "  then getsockopt(TCP_FASTOPEN_CONNECT)");
    char echo[32];
    long n = recv_some(h, echo, 10);
    line("  then the echo", "\"%s\"", show(echo, n));
    R("  then sendto(\"x\", MSG_FASTOPEN) again", sendto(h, "x", 1, MSG_FASTOPEN, SA(e), sizeof e));
    R("listening: sendto(\"x\", MSG_FASTOPEN)", sendto(l, "x", 1, MSG_FASTOPEN, SA(e), sizeof e));
}

static void c_splice(void) {
    int fd = conn(SENDER);
    wait_readable(fd);
    int p[2];
    need(pipe(p) == 0, "pipe");
    R("splice(socket -> pipe, 100)", splice(fd, NULL, p[1], NULL, 100, 0));
    char buf[128];
    long n = read(p[0], buf, sizeof buf);
    line("  the pipe holds", "\"%s\"", show(buf, n));
    R("splice(socket -> pipe, 100, SPLICE_F_NONBLOCK) with nothing to read", splice(fd, NULL, p[1], NULL, 100, SPLICE_F_NONBLOCK));
    int e = conn(ECHO);
    need(write(p[1], "spliced-data", 12) == 12, "write pipe");
    R("splice(pipe -> socket, 12)", splice(p[0], NULL, e, NULL, 12, 0));
    n = recv_some(e, buf, 12);
    line("  the echo", "\"%s\"", show(buf, n));
    loff_t off = 0;
    R("splice(socket -> pipe) with an offset", splice(e, &off, p[1], NULL, 10, SPLICE_F_NONBLOCK));
    R("splice(socket -> socket)", splice(fd, NULL, e, NULL, 10, SPLICE_F_NONBLOCK));
}

/* ---- bad arguments ---- */

static void c_null_send(void) {
    int fd = conn(ECHO);
    RX("send(NULL, 10)", send(fd, NUL, 10, 0));
    RX("send(NULL, 0)", send(fd, NULL, 0, 0));
    RX("sendto(NULL, 10, no address)", sendto(fd, NUL, 10, 0, NULL, 0));
    RX("write(NULL, 10)", write(fd, NUL, 10));
    RX("send(unmapped page, 10)", send(fd, noaccess, 10, 0));
    RX("write(unmapped page, 10)", write(fd, noaccess, 10));
    RX("send(huge length from a 10-byte buffer at the end of a page)", send(fd, lastpage + 4096 - 10, 1 << 20, MSG_DONTWAIT));
    char back[64];
    line("  the echo of all that", "%ld bytes", recv_some(fd, back, sizeof back));
}

static void c_straddle_send(void) {
    int fd = conn(ECHO);
    memset(lastpage + 4096 - 10, 's', 10);
    RX("send(20 bytes, the last 10 unmapped)", send(fd, lastpage + 4096 - 10, 20, 0));
    char back[64];
    line("  the echo", "%ld bytes", recv_some(fd, back, sizeof back));
}

static void c_null_recv(void) {
    int fd = conn(SENDER);
    wait_readable(fd);
    RX("recv(NULL, 10) with data waiting", recv(fd, NUL, 10, 0));
    RX("read(NULL, 10)", read(fd, NUL, 10));
    RX("recv(unmapped page, 10)", recv(fd, noaccess, 10, 0));
    RX("read(unmapped page, 10)", read(fd, noaccess, 10));
    RX("recv(NULL, 0)", recv(fd, NULL, 0, MSG_DONTWAIT));
    char buf[64];
    long n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    line("  then recv(64)", "%ld \"%s\"", n, show(buf, n));
}

static void c_straddle_recv(void) {
    int fd = conn(SENDER);
    wait_readable(fd);
    RX("recv(20 into 10 mapped bytes then an unmapped page)", recv(fd, lastpage + 4096 - 10, 20, 0));
    char buf[64];
    long n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    line("  then recv(64)", "%ld \"%s\"", n, show(buf, n));
}

static void c_msg_hostile(void) {
    int fd = conn(ECHO);
    RX("sendmsg(NULL msghdr)", sendmsg(fd, NULL, 0));
    struct msghdr m = {.msg_iov = NULL, .msg_iovlen = 1};
    RX("sendmsg(iov NULL, iovlen 1)", sendmsg(fd, &m, 0));
    struct iovec iov = {NULL, 10};
    m.msg_iov = &iov;
    RX("sendmsg(iov {NULL, 10})", sendmsg(fd, &m, 0));
    static struct iovec many[1025];
    for (int i = 0; i < 1025; i++) many[i] = (struct iovec){(void *)"m", 1};
    m.msg_iov = many;
    m.msg_iovlen = 1025;
    R("sendmsg(iovlen 1025)", sendmsg(fd, &m, 0));
    m.msg_iovlen = 1024;
    R("sendmsg(iovlen 1024)", sendmsg(fd, &m, 0));
    m.msg_iovlen = 1;
    m.msg_control = noaccess;
    m.msg_controllen = 64;
    RX("sendmsg(control in an unmapped page)", sendmsg(fd, &m, 0));
    m.msg_control = NULL;
    m.msg_controllen = 0;
    m.msg_iov = (struct iovec *)noaccess;
    RX("sendmsg(iov in an unmapped page)", sendmsg(fd, &m, 0));
    char back[2048];
    line("  the echo of all that", "%ld bytes", recv_some(fd, back, sizeof back));
    RX("recvmsg(NULL msghdr)", recvmsg(fd, NULL, MSG_DONTWAIT));
    struct msghdr r = {.msg_iov = NULL, .msg_iovlen = 1};
    RX("recvmsg(iov NULL, iovlen 1) nothing waiting", recvmsg(fd, &r, MSG_DONTWAIT));
    RX("recvmsg(msghdr in an unmapped page)", recvmsg(fd, (struct msghdr *)noaccess, MSG_DONTWAIT));
}

static void c_addr_connect(void) {
    struct sockaddr_in a = kaddr(ECHO);
    RX("connect(NULL, 16)", connect(tcp(), NULL, sizeof a));
    R("connect(addr, 4)", connect(tcp(), SA(a), 4));
    R("connect(addr, 0)", connect(tcp(), SA(a), 0));
    R("connect(addr, -1)", connect(tcp(), SA(a), (socklen_t)-1));
    R("connect(addr, 1000)", connect(tcp(), SA(a), 1000));
    RX("connect(unmapped page, 16)", connect(tcp(), (struct sockaddr *)noaccess, 16));
    struct sockaddr_in u = a;
    u.sin_family = AF_UNIX;
    R("connect(family AF_UNIX, 16)", connect(tcp(), SA(u), sizeof u));
    u.sin_family = AF_INET6;
    R("connect(family AF_INET6, 16)", connect(tcp(), SA(u), sizeof u));
    u.sin_family = AF_UNSPEC;
    R("connect(family AF_UNSPEC) unconnected", connect(tcp(), SA(u), sizeof u));
    struct sockaddr_storage big;
    memset(&big, 0, sizeof big);
    memcpy(&big, &a, sizeof a);
    int fd = tcp();
    R("connect(addr, 128)", connect(fd, SA(big), sizeof big));
    R("connect again", connect(fd, SA(a), sizeof a));
    R("connect(family AF_UNSPEC) connected", connect(fd, SA(u), sizeof u));
    struct sockaddr_in z = kaddr(0);
    R("connect(port 0)", connect(tcp(), SA(z), sizeof z));
    struct sockaddr_in any = addr_of("0.0.0.0", ECHO);
    R("connect(0.0.0.0)", connect(tcp(), SA(any), sizeof any));
    /* What connect(AF_UNSPEC) left of the connected socket (Linux's tcp_disconnect): the reset
     * connection's error once, no peer, no port, and it connects anew. */
    int err = -1;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    line("  then SO_ERROR", "%s", err ? ename(err) : "0");
    len = sizeof big;
    R("  then getpeername", getpeername(fd, SA(big), &len));
    struct sockaddr_in me;
    len = sizeof me;
    getsockname(fd, SA(me), &len);
    line("  then getsockname", "port %s", me.sin_port ? "nonzero" : "0");
    char buf[8];
    R("  then recv", recv(fd, buf, sizeof buf, 0));
    R("  then send", send(fd, "x", 1, 0));
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    int pr = poll(&p, 1, 0);
    line("  then poll", "%d revents=%#x", pr, p.revents & (POLLIN | POLLOUT | POLLERR | POLLHUP));
    R("  then connect(echo)", connect(fd, SA(a), sizeof a));
    R("  and send", send(fd, "ping", 4, 0));
    R("  and read the echo", recv_some(fd, buf, 4));
    /* UDP: AF_UNSPEC dissolves the association. */
    int d = udp();
    R("udp: connect(AF_UNSPEC) unconnected", connect(d, SA(u), sizeof u));
    R("udp: connect", connect(d, SA(a), sizeof a));
    R("udp: connect(AF_UNSPEC)", connect(d, SA(u), sizeof u));
    len = sizeof big;
    R("  then getpeername", getpeername(d, SA(big), &len));
    R("  then send", send(d, "x", 1, 0));
    R("  then sendto", sendto(d, "x", 1, 0, SA(a), sizeof a));
}

static void c_connect_progress(void) {
    int fd = tcp();
    fcntl(fd, F_SETFL, O_NONBLOCK);
    struct sockaddr_in none = addr_of("10.77.0.5", ECHO); /* nobody answers ARP */
    R("nonblocking connect(no such host)", connect(fd, SA(none), sizeof none));
    R("  connect again", connect(fd, SA(none), sizeof none));
    struct sockaddr_in a = kaddr(ECHO);
    R("  connect elsewhere", connect(fd, SA(a), sizeof a));
    R("  send", send(fd, "x", 1, 0));
    int err = -1;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    line("  SO_ERROR", "%s", err ? ename(err) : "0");
    /* A shutdown of a connect in progress takes the socket apart (Linux's inet_shutdown calls
     * tcp_disconnect in SYN-SENT): the connect's error is ECONNRESET, and it connects anew. */
    fd = tcp();
    fcntl(fd, F_SETFL, O_NONBLOCK);
    connect(fd, SA(none), sizeof none);
    R("connecting: shutdown(SHUT_WR)", shutdown(fd, SHUT_WR));
    len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    line("  then SO_ERROR", "%s", err ? ename(err) : "0");
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    int pr = poll(&p, 1, 0);
    line("  then poll", "%d revents=%#x", pr, p.revents & (POLLIN | POLLOUT | POLLERR | POLLHUP));
    fcntl(fd, F_SETFL, 0);
    struct sockaddr_in c = kaddr(CLOSED_PORT);
    R("  then connect(closed port)", connect(fd, SA(c), sizeof c));
}

static void c_refused(void) {
    struct sockaddr_in a = kaddr(CLOSED_PORT);
    int fd = tcp();
    R("connect(closed port)", connect(fd, SA(a), sizeof a));
    R("  same socket again", connect(fd, SA(a), sizeof a));
    R("  send", send(fd, "x", 1, 0));
    int err = -1;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    line("  SO_ERROR", "%s", err ? ename(err) : "0");
    R("connect(closed port) fresh socket", connect(tcp(), SA(a), sizeof a));
    fd = tcp();
    fcntl(fd, F_SETFL, O_NONBLOCK);
    R("nonblocking connect(closed port)", connect(fd, SA(a), sizeof a));
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    int pr = poll(&p, 1, 5000);
    line("  poll", "%d revents=%#x", pr, p.revents & (POLLIN | POLLOUT | POLLERR | POLLHUP));
    len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    line("  SO_ERROR", "%s", err ? ename(err) : "0");
    len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    line("  SO_ERROR again", "%s", err ? ename(err) : "0");
    R("  connect again", connect(fd, SA(a), sizeof a));
    usleep(300000);
    R("  and again", connect(fd, SA(a), sizeof a));
    struct sockaddr_in e = kaddr(ECHO);
    fd = tcp();
    connect(fd, SA(a), sizeof a);
    R("refused socket: connect(echo)", connect(fd, SA(e), sizeof e));
    /* What a refused non-blocking connect leaves: a read reports the error once, then end of
     * file; SO_ERROR reports it once; a send reports it once without SIGPIPE, then EPIPE with
     * it; once reported, poll says POLLERR no more. */
    char buf[8];
    for (int how = 0; how < 3; how++) {
        fd = tcp();
        fcntl(fd, F_SETFL, O_NONBLOCK);
        connect(fd, SA(a), sizeof a);
        p = (struct pollfd){.fd = fd, .events = POLLIN | POLLOUT};
        poll(&p, 1, 5000);
        if (how == 0) {
            R("refused, nonblocking: read", read(fd, buf, sizeof buf));
            R("  read again", read(fd, buf, sizeof buf));
        } else if (how == 1) {
            len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            line("refused, nonblocking: SO_ERROR", "%s", err ? ename(err) : "0");
            R("  read", read(fd, buf, sizeof buf));
        } else {
            RX("refused, nonblocking: send, SIGPIPE not ignored",
               (signal(SIGPIPE, SIG_DFL), send(fd, "x", 1, 0)));
            RX("  send again", (signal(SIGPIPE, SIG_DFL), send(fd, "x", 1, 0)));
            R("  send(MSG_NOSIGNAL)", send(fd, "x", 1, MSG_NOSIGNAL));
        }
        p.revents = 0;
        pr = poll(&p, 1, 0);
        line("  poll then", "%d revents=%#x", pr, p.revents & (POLLIN | POLLOUT | POLLERR | POLLHUP));
    }
}

static void c_addr_bind(void) {
    /* The bad cases on a port of their own: one the stack wrongly accepts must not take the port
     * of the good ones. */
    struct sockaddr_in a = saddr(LISTEN_BASE + checkno + 100);
    RX("bind(NULL, 16)", bind(tcp(), NULL, sizeof a));
    R("bind(addr, 4)", bind(tcp(), SA(a), 4));
    R("bind(addr, 0)", bind(tcp(), SA(a), 0));
    R("bind(addr, -1)", bind(tcp(), SA(a), (socklen_t)-1));
    RX("bind(unmapped page, 16)", bind(tcp(), (struct sockaddr *)noaccess, 16));
    struct sockaddr_in u = a;
    u.sin_family = AF_UNIX;
    R("bind(family AF_UNIX)", bind(tcp(), SA(u), sizeof u));
    u.sin_family = AF_UNSPEC;
    R("bind(family AF_UNSPEC, 10.77.0.2)", bind(tcp(), SA(u), sizeof u));
    struct sockaddr_in other = addr_of("10.77.0.99", 0);
    R("bind(10.77.0.99)", bind(tcp(), SA(other), sizeof other));
    a = saddr(LISTEN_BASE + checkno);
    int fd = tcp();
    R("bind(10.77.0.2:port)", bind(fd, SA(a), sizeof a));
    R("  again", bind(fd, SA(a), sizeof a));
    R("bind(the same port) another socket", bind(tcp(), SA(a), sizeof a));
    struct sockaddr_in any = addr_of("0.0.0.0", LISTEN_BASE + checkno);
    R("bind(0.0.0.0:the same port) another socket", bind(tcp(), SA(any), sizeof any));
    struct sockaddr_storage big;
    memset(&big, 0, sizeof big);
    struct sockaddr_in b = saddr(LISTEN_BASE + checkno + 50);
    memcpy(&big, &b, sizeof b);
    R("bind(addr, 128)", bind(tcp(), SA(big), sizeof big));
    struct sockaddr_in bc = addr_of("10.77.0.255", 0);
    R("bind(10.77.0.255)", bind(tcp(), SA(bc), sizeof bc));
    int c = conn(ECHO);
    R("bind a connected socket", bind(c, SA(any), sizeof any));
}

static void c_addr_sendto(void) {
    struct sockaddr_in a = kaddr(9009);
    int u = udp();
    R("udp: sendto(addr, 16)", sendto(u, "hello", 5, 0, SA(a), sizeof a));
    R("udp: sendto(addr, 4)", sendto(u, "hello", 5, 0, SA(a), 4));
    R("udp: sendto(addr, 0)", sendto(u, "hello", 5, 0, SA(a), 0));
    R("udp: sendto(addr, -1)", sendto(u, "hello", 5, 0, SA(a), (socklen_t)-1));
    R("udp: sendto(addr, 1000)", sendto(u, "hello", 5, 0, SA(a), 1000));
    RX("udp: sendto(NULL, 16) unconnected", sendto(udp(), "hello", 5, 0, NULL, sizeof a));
    RX("udp: sendto(unmapped page, 16)", sendto(u, "hello", 5, 0, (struct sockaddr *)noaccess, 16));
    struct sockaddr_in x = a;
    x.sin_family = AF_UNIX;
    R("udp: sendto(family AF_UNIX)", sendto(u, "hello", 5, 0, SA(x), sizeof x));
    x.sin_family = AF_UNSPEC;
    R("udp: sendto(family AF_UNSPEC)", sendto(u, "hello", 5, 0, SA(x), sizeof x));
    struct sockaddr_in z = kaddr(0);
    R("udp: sendto(port 0)", sendto(u, "hello", 5, 0, SA(z), sizeof z));
    RX("udp: sendto(NULL buffer, 5)", sendto(u, NUL, 5, 0, SA(a), sizeof a));
    RX("udp: sendto(unmapped buffer, 5)", sendto(u, noaccess, 5, 0, SA(a), sizeof a));
    int t = conn(ECHO);
    R("tcp connected: sendto(addr, 4)", sendto(t, "hello", 5, 0, SA(a), 4));
    RX("tcp connected: sendto(NULL, 16)", sendto(t, "hello", 5, 0, NULL, 16));
    R("tcp connected: sendto(addr, -1)", sendto(t, "hello", 5, 0, SA(a), (socklen_t)-1));
    RX("tcp connected: sendto(unmapped page, 16)", sendto(t, "hello", 5, 0, (struct sockaddr *)noaccess, 16));
    R("tcp connected: sendto(another address, 16)", sendto(t, "hello", 5, 0, SA(a), sizeof a));
    R("tcp unconnected: sendto(addr, 16)", sendto(tcp(), "hello", 5, 0, SA(a), sizeof a));
    char back[64];
    line("  the echo", "%ld bytes", recv_some(t, back, sizeof back));
}

/* accept with one argument case, each on a fresh pending connection; then whether the
 * connection is still there to accept. */
static void accept_case(int lfd, const char *what, struct sockaddr *addr, socklen_t *len) {
    pending(lfd);
    fflush(stdout);
    pid_t p = fork(); /* the accept in a child: bad pointers may crash it */
    need(p >= 0, "fork");
    if (p == 0) {
        alarm(10);
        socklen_t before = len && (void *)len != (void *)noaccess ? *len : 0;
        int r = RFD(what, accept(lfd, addr, len));
        if (len && (void *)len != (void *)noaccess)
            line("  addrlen", "%d -> %d%s", (int)before, (int)*len,
                 addr && r >= 0 && *len > 0 && (void *)addr != (void *)noaccess
                     ? N(" family=%d", ((struct sockaddr_in *)addr)->sin_family)
                     : "");
        fflush(stdout);
        _exit(0);
    }
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st)) {
        line(what, "killed by %s", sigabbrev_np(WTERMSIG(st)));
        if (len && (void *)len != (void *)noaccess) sub++;
    } else {
        sub += 1 + (len && (void *)len != (void *)noaccess);
    }
    int again = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    line("  the connection again (nonblocking accept)", "%s", again >= 0 ? "fd" : ename(errno));
    if (again >= 0) close(again);
}

static void c_addr_accept(void) {
    int lfd = listener();
    fcntl(lfd, F_SETFL, O_NONBLOCK);
    R("accept nothing pending (nonblocking)", accept(lfd, NULL, NULL));
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len = 4;
    accept_case(lfd, "accept(addr, len 4)", SA(ss), &len);
    len = 16;
    accept_case(lfd, "accept(NULL, len 16)", NULL, &len);
    accept_case(lfd, "accept(addr, NULL len)", SA(ss), NULL);
    len = (socklen_t)-1;
    accept_case(lfd, "accept(addr, len -1)", SA(ss), &len);
    len = 1000;
    accept_case(lfd, "accept(addr, len 1000)", SA(ss), &len);
    len = 0;
    accept_case(lfd, "accept(addr, len 0)", SA(ss), &len);
    len = 16;
    accept_case(lfd, "accept(unmapped addr, len 16)", (struct sockaddr *)noaccess, &len);
    accept_case(lfd, "accept(addr, len in an unmapped page)", SA(ss), (socklen_t *)noaccess);
    pending(lfd);
    RX("accept4(bad flags)", accept4(lfd, NULL, NULL, 0x40000000));
    int fd = RFD("  then accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)", accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd >= 0)
        line("  its flags", "nonblock=%d cloexec=%d", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0,
             (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    R("accept on an unlistening socket", accept(tcp(), NULL, NULL));
    R("accept on a connected socket", accept(conn(ECHO), NULL, NULL));
    R("accept on a udp socket", accept(udp(), NULL, NULL));
}

/* getsockname or getpeername (peer != 0) with each bad argument. */
static void names(int fd, int peer, const char *call) {
    int (*f)(int, struct sockaddr *, socklen_t *) = peer ? getpeername : getsockname;
    static const int lens[] = {16, 4, 0, -1, 1000};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        unsigned char buf[32];
        memset(buf, 0xaa, sizeof buf);
        socklen_t len = (socklen_t)lens[i];
        errno = 0;
        int r = f(fd, (struct sockaddr *)buf, &len);
        const char *what = N("%s(addr, len %d)", call, lens[i]);
        if (r < 0)
            line(what, "%d %s len=%d", r, ename(errno), (int)len);
        else /* the family, the port and the address, and what follows */
            line(what, "%d len=%d bytes=%s", r, (int)len, hex(buf, 20));
    }
    socklen_t len = 16;
    RX(N("%s(NULL, &16)", call), f(fd, NULL, &len));
    unsigned char buf[32];
    RX(N("%s(addr, NULL)", call), f(fd, (struct sockaddr *)buf, NULL));
    RX(N("%s(unmapped, &16)", call), f(fd, (struct sockaddr *)noaccess, &len));
    RX(N("%s(addr, unmapped len)", call), f(fd, (struct sockaddr *)buf, (socklen_t *)noaccess));
}

static void c_names(void) {
    int fd = tcp();
    struct sockaddr_in a = saddr(LISTEN_BASE + checkno);
    need(bind(fd, SA(a), sizeof a) == 0, "bind");
    names(fd, 0, "bound: getsockname");
    R("bound: getpeername", getpeername(fd, SA(a), &(socklen_t){sizeof a}));
    int u = tcp();
    unsigned char buf[20];
    memset(buf, 0xaa, sizeof buf);
    socklen_t len = 16;
    int r = getsockname(u, (struct sockaddr *)buf, &len);
    line("unbound: getsockname", "%d len=%d bytes=%s", r, (int)len, hex(buf, 20));
    int c = conn(ECHO);
    names(c, 1, "connected: getpeername");
}

/* Every socket call on a descriptor that is no socket. */
static void badfd(int fd, const char *kind) {
    struct sockaddr_in a = kaddr(ECHO);
    socklen_t len = sizeof a;
    int v = 1;
    char buf[16];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    R(N("connect(%s)", kind), connect(fd, SA(a), sizeof a));
    R(N("bind(%s)", kind), bind(fd, SA(a), sizeof a));
    R(N("listen(%s)", kind), listen(fd, 1));
    R(N("accept(%s)", kind), accept(fd, NULL, NULL));
    RX(N("accept4(%s)", kind), accept4(fd, NULL, NULL, SOCK_NONBLOCK));
    R(N("send(%s)", kind), send(fd, "x", 1, MSG_DONTWAIT));
    R(N("recv(%s)", kind), recv(fd, buf, sizeof buf, MSG_DONTWAIT));
    R(N("sendto(%s)", kind), sendto(fd, "x", 1, MSG_DONTWAIT, SA(a), sizeof a));
    R(N("recvfrom(%s)", kind), recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, SA(a), &len));
    R(N("sendmsg(%s)", kind), sendmsg(fd, &m, MSG_DONTWAIT));
    R(N("recvmsg(%s)", kind), recvmsg(fd, &m, MSG_DONTWAIT));
    R(N("setsockopt(%s)", kind), setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v));
    len = sizeof v;
    R(N("getsockopt(%s)", kind), getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len));
    R(N("shutdown(%s)", kind), shutdown(fd, SHUT_RDWR));
    len = sizeof a;
    R(N("getsockname(%s)", kind), getsockname(fd, SA(a), &len));
    len = sizeof a;
    R(N("getpeername(%s)", kind), getpeername(fd, SA(a), &len));
}

static void c_badfd_minus1(void) { badfd(-1, "fd -1"); }
static void c_badfd_unopened(void) { badfd(1000, "fd 1000, never opened"); }
static void c_badfd_closed(void) {
    int fd = tcp();
    close(fd);
    badfd(fd, "a closed socket");
}
static void c_badfd_pipe(void) {
    int p[2];
    need(pipe(p) == 0, "pipe");
    badfd(p[0], "a pipe");
}
static void c_badfd_file(void) {
    FILE *f = tmpfile();
    need(f != NULL, "tmpfile");
    badfd(fileno(f), "a regular file");
}

struct waiter {
    int fd, *got, *err;
};

static void *accept_waiter(void *arg) {
    struct waiter *w = arg;
    *w->got = accept(w->fd, NULL, NULL);
    *w->err = errno;
    return NULL;
}

static void c_shutdown(void) {
    int u = tcp();
    R("unconnected: shutdown(SHUT_RDWR)", shutdown(u, SHUT_RDWR));
    R("unconnected: shutdown(3)", shutdown(u, 3));
    int fd = conn(ECHO);
    R("shutdown(3)", shutdown(fd, 3));
    R("shutdown(-1)", shutdown(fd, -1));
    R("shutdown(100)", shutdown(fd, 100));
    R("shutdown(INT_MIN)", shutdown(fd, INT_MIN));
    R("shutdown(SHUT_WR)", shutdown(fd, SHUT_WR));
    R("shutdown(SHUT_WR) again", shutdown(fd, SHUT_WR));
    R("send after SHUT_WR", send(fd, "x", 1, 0));
    char buf[8];
    R("recv after SHUT_WR (the echo closes)", recv(fd, buf, sizeof buf, 0));
    R("shutdown(SHUT_RD)", shutdown(fd, SHUT_RD));
    R("recv after SHUT_RD", recv(fd, buf, sizeof buf, 0));
    R("shutdown(SHUT_RDWR)", shutdown(fd, SHUT_RDWR));
    int l = listener();
    R("listening: shutdown(SHUT_RDWR)", shutdown(l, SHUT_RDWR));
    RX("  then accept (nonblocking)", accept4(l, NULL, NULL, SOCK_NONBLOCK));
    int d = udp();
    R("udp unconnected: shutdown(SHUT_RD)", shutdown(d, SHUT_RD));
    /* Reading shut while the echo has yet to answer: what arrives after is still read (Linux
     * queues it), end of file only once nothing is queued, and poll says readable all along. */
    int es = conn(ECHO);
    R("echo: shutdown(SHUT_RD)", shutdown(es, SHUT_RD));
    struct pollfd ep = {.fd = es, .events = POLLIN | POLLOUT | POLLRDHUP};
    R("  then poll (POLLIN|POLLOUT|POLLRDHUP)", ({ int pr = poll(&ep, 1, 0); pr == 1 ? ep.revents : -pr; }));
    R("  then recv (nothing queued)", recv(es, buf, sizeof buf, MSG_DONTWAIT));
    R("  then send(\"later\")", send(es, "later", 5, 0));
    usleep(300000);
    long egot = recv(es, buf, sizeof buf, 0);
    line("  then recv (the echo)", "%ld \"%s\"", egot, egot > 0 ? show(buf, egot) : "");
    R("  then recv again", recv(es, buf, sizeof buf, 0));
    close(es);
    /* The listener shut down is a closed socket still bound to its port (Linux's inet_shutdown
     * disconnects it): it listens again and accepts. */
    R("listener shut down: getsockopt(SO_ACCEPTCONN)", ({
          int v = -1;
          socklen_t vl = sizeof v;
          getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl);
          v;
      }));
    R("  listen again", listen(l, 8));
    pending(l);
    RFD("  accept", accept(l, NULL, NULL));
    /* An accept waiting on another thread when the listener is shut down. */
    pthread_t t;
    int got = -2, e = 0;
    struct waiter w = {l, &got, &e};
    need(pthread_create(&t, NULL, accept_waiter, &w) == 0, "pthread_create");
    usleep(200000);
    R("listener shut down under a waiting accept", shutdown(l, SHUT_RD));
    pthread_join(t, NULL);
    line("  the waiting accept", "%d %s", got < 0 ? got : 0, got < 0 ? ename(e) : "");
}

static void c_listen(void) {
    struct sockaddr_in a = saddr(LISTEN_BASE + checkno);
    int fd = tcp();
    need(bind(fd, SA(a), sizeof a) == 0, "bind");
    R("listen(-1)", listen(fd, -1));
    R("listen(INT_MIN) again", listen(fd, INT_MIN));
    R("listen(INT_MAX) again", listen(fd, INT_MAX));
    R("listen(0) unbound", listen(tcp(), 0));
    R("listen on a connected socket", listen(conn(ECHO), 1));
    R("listen on a udp socket", listen(udp(), 1));
    int c = tcp();
    fcntl(c, F_SETFL, O_NONBLOCK);
    struct sockaddr_in none = addr_of("10.77.0.5", ECHO);
    connect(c, SA(none), sizeof none);
    R("listen on a connecting socket", listen(c, 1));
    struct sockaddr_in k = kaddr(ECHO);
    int l = tcp();
    listen(l, 1);
    R("connect on a listening socket", connect(l, SA(k), sizeof k));
}

/* Port sharing (inet_bind_conflict): SO_REUSEADDR lets sockets only bound share a port, never a
 * listener's; SO_REUSEPORT lets one user's listeners share it. */
static void c_port_sharing(void) {
    struct sockaddr_in a = saddr(LISTEN_BASE + checkno);
    int one = 1;
    int r1 = tcp(), r2 = tcp(), plain = tcp();
    setsockopt(r1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(r2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    R("bind SO_REUSEADDR", bind(r1, SA(a), sizeof a));
    R("bind SO_REUSEADDR beside it", bind(r2, SA(a), sizeof a));
    R("bind without beside them", bind(plain, SA(a), sizeof a));
    R("listen the first", listen(r1, 4));
    R("listen the second", listen(r2, 4));
    int r3 = tcp();
    setsockopt(r3, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    R("bind SO_REUSEADDR beside a listener", bind(r3, SA(a), sizeof a));
    struct sockaddr_in b = saddr(LISTEN_BASE + checkno + 100);
    int p1 = tcp(), p2 = tcp(), p3 = tcp();
    setsockopt(p1, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(p2, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    R("bind SO_REUSEPORT", bind(p1, SA(b), sizeof b));
    R("listen SO_REUSEPORT", listen(p1, 4));
    R("bind SO_REUSEPORT beside a listener of the group", bind(p2, SA(b), sizeof b));
    R("listen SO_REUSEPORT beside it", listen(p2, 4));
    R("bind without beside the group", bind(p3, SA(b), sizeof b));
    int v = 0;
    socklen_t len = sizeof v;
    R("getsockopt SO_REUSEPORT", getsockopt(p2, SOL_SOCKET, SO_REUSEPORT, &v, &len));
    line("SO_REUSEPORT value", "%d", v);
}

static void c_opt_null(void) {
    int fd = tcp();
    RX("setsockopt(SO_KEEPALIVE, NULL, 4)", setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, NULL, 4));
    RX("setsockopt(SO_KEEPALIVE, NULL, 0)", setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, NULL, 0));
    RX("setsockopt(TCP_NODELAY, NULL, 4)", setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, NULL, 4));
    RX("setsockopt(IP_TOS, NULL, 4)", setsockopt(fd, IPPROTO_IP, IP_TOS, NULL, 4));
    RX("setsockopt(TCP_CONGESTION, NULL, 5)", setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, NULL, 5));
    RX("setsockopt(SO_LINGER, NULL, 8)", setsockopt(fd, SOL_SOCKET, SO_LINGER, NULL, 8));
    RX("setsockopt(SO_RCVTIMEO, NULL, 16)", setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, NULL, 16));
    RX("setsockopt(SO_KEEPALIVE, unmapped, 4)", setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, noaccess, 4));
    R("setsockopt(SO_KEEPALIVE, optlen -1)", setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &(int){1}, (socklen_t)-1));
    R("setsockopt(level 999)", setsockopt(fd, 999, 1, &(int){1}, 4));
    R("setsockopt(SOL_SOCKET, 9999)", setsockopt(fd, SOL_SOCKET, 9999, &(int){1}, 4));
    R("setsockopt(IPPROTO_TCP, 9999)", setsockopt(fd, IPPROTO_TCP, 9999, &(int){1}, 4));
    R("setsockopt(IPPROTO_IP, 9999)", setsockopt(fd, IPPROTO_IP, 9999, &(int){1}, 4));
    R("setsockopt(IPPROTO_UDP level on tcp)", setsockopt(fd, IPPROTO_UDP, 1, &(int){1}, 4));
    int v;
    socklen_t len = 4;
    RX("getsockopt(SO_KEEPALIVE, optlen NULL)", getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, NULL));
    RX("getsockopt(SO_KEEPALIVE, NULL, &4)", getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, NULL, &len));
    len = 4;
    RX("getsockopt(TCP_NODELAY, NULL, &4)", getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, NULL, &len));
    RX("getsockopt(TCP_NODELAY, optlen NULL)", getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, NULL));
    RX("getsockopt(IP_TOS, optlen NULL)", getsockopt(fd, IPPROTO_IP, IP_TOS, &v, NULL));
    RX("getsockopt(SO_KEEPALIVE, optlen unmapped)", getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, (socklen_t *)noaccess));
    len = 4;
    RX("getsockopt(SO_KEEPALIVE, unmapped, &4)", getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, noaccess, &len));
    len = 4;
    R("getsockopt(level 999)", getsockopt(fd, 999, 1, &v, &len));
    len = 4;
    R("getsockopt(SOL_SOCKET, 9999)", getsockopt(fd, SOL_SOCKET, 9999, &v, &len));
    len = 4;
    R("getsockopt(IPPROTO_TCP, 9999)", getsockopt(fd, IPPROTO_TCP, 9999, &v, &len));
    len = 4;
    R("getsockopt(IPPROTO_IP, 9999)", getsockopt(fd, IPPROTO_IP, 9999, &v, &len));
    len = 4;
    RX("getsockopt(SO_ERROR, NULL, &4)", getsockopt(fd, SOL_SOCKET, SO_ERROR, NULL, &len));
}

static void c_socket(void) {
    RFD("socket(AF_INET, SOCK_STREAM, 0)", socket(AF_INET, SOCK_STREAM, 0));
    RFD("socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)", socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
    RFD("socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP)", socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP));
    RFD("socket(12345, SOCK_STREAM, 0)", socket(12345, SOCK_STREAM, 0));
    RFD("socket(-1, SOCK_STREAM, 0)", socket(-1, SOCK_STREAM, 0));
    RFD("socket(AF_INET, 12345, 0)", socket(AF_INET, 12345, 0));
    RFD("socket(AF_INET, -1, 0)", socket(AF_INET, -1, 0));
    RFD("socket(AF_INET, 0, 0)", socket(AF_INET, 0, 0));
    RFD("socket(AF_INET, SOCK_STREAM, IPPROTO_UDP)", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    RFD("socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP)", socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
    RFD("socket(AF_INET, SOCK_STREAM, 9999)", socket(AF_INET, SOCK_STREAM, 9999));
    RFD("socket(AF_INET, SOCK_STREAM, -1)", socket(AF_INET, SOCK_STREAM, -1));
    RFD("socket(AF_INET, SOCK_SEQPACKET, 0)", socket(AF_INET, SOCK_SEQPACKET, 0));
    RFD("socket(AF_INET, SOCK_STREAM | 0x100000, 0)", socket(AF_INET, SOCK_STREAM | 0x100000, 0));
    int fd = RFD("socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0)",
                 socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd >= 0) {
        line("  its flags", "nonblock=%d cloexec=%d", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0,
             (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        geti(fd, SOL_SOCKET, SO_TYPE, "  getsockopt(SO_TYPE)");
        geti(fd, SOL_SOCKET, SO_PROTOCOL, "  getsockopt(SO_PROTOCOL)");
        geti(fd, SOL_SOCKET, SO_DOMAIN, "  getsockopt(SO_DOMAIN)");
        geti(fd, SOL_SOCKET, SO_ACCEPTCONN, "  getsockopt(SO_ACCEPTCONN)");
    }
    int p[2];
    R("socketpair(AF_INET, SOCK_STREAM)", socketpair(AF_INET, SOCK_STREAM, 0, p));
}

/* One epoll_wait of up to 2 s, its first event shown. */
static void epoll_line(int ep, const char *what) {
    struct epoll_event ev;
    int n = epoll_wait(ep, &ev, 1, 2000);
    if (n == 1)
        line(what, "1 data=%llu events=%#x", (unsigned long long)ev.data.u64, ev.events);
    else
        line(what, "%d", n);
}

/* A socket taken apart, or whose connect failed, is still the one epoll watches (one file on
 * Linux): the interest holds through the next connection. */
static void c_reconnect_epoll(void) {
    int ep = epoll_create1(0);
    need(ep >= 0, "epoll_create1");
    struct sockaddr_in a = kaddr(ECHO), c = kaddr(CLOSED_PORT), u = {.sin_family = AF_UNSPEC};
    int fd = conn(ECHO);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = 42};
    R("epoll_ctl(ADD, connected)", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
    R("connect(AF_UNSPEC)", connect(fd, SA(u), sizeof u));
    R("  connect(echo) again", connect(fd, SA(a), sizeof a));
    R("  send", send(fd, "x", 1, 0));
    epoll_line(ep, "  epoll_wait");
    R("  epoll_ctl(ADD) again", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
    char buf[8];
    recv_some(fd, buf, 1);
    int s = tcp();
    fcntl(s, F_SETFL, O_NONBLOCK);
    struct epoll_event o = {.events = EPOLLOUT, .data.u64 = 7};
    R("nonblocking connect(closed port)", connect(s, SA(c), sizeof c));
    R("  epoll_ctl(ADD)", epoll_ctl(ep, EPOLL_CTL_ADD, s, &o));
    epoll_line(ep, "  epoll_wait");
    R("  connect again", connect(s, SA(c), sizeof c));
    R("  connect(echo)", connect(s, SA(a), sizeof a));
    epoll_line(ep, "  epoll_wait");
    R("  epoll_ctl(ADD) again", epoll_ctl(ep, EPOLL_CTL_ADD, s, &o));
}

typedef void (*check_fn)(void);

/* TCP urgent data with nothing urgent: what recv(MSG_OOB) and SIOCATMARK say, send(MSG_OOB),
 * SO_OOBINLINE; MSG_OOB on UDP. (t_oob and the conformance cases urgent_* check urgent data.) */
static void c_urgent(void) {
    int fd = tcp();
    char c;
    int mark = -1;
    geti(fd, SOL_SOCKET, SO_OOBINLINE, "getsockopt(SO_OOBINLINE) initially");
    R("unconnected: recv(MSG_OOB)", recv(fd, &c, 1, MSG_OOB | MSG_DONTWAIT));
    R("unconnected: ioctl(SIOCATMARK)", ioctl(fd, SIOCATMARK, &mark));
    line("  mark", "%d", mark);
    connect_to(fd, SENDER);
    wait_readable(fd);
    R("connected, nothing urgent: recv(MSG_OOB)", recv(fd, &c, 1, MSG_OOB | MSG_DONTWAIT));
    mark = -1;
    R("connected: ioctl(SIOCATMARK)", ioctl(fd, SIOCATMARK, &mark));
    line("  mark", "%d", mark);
    R("send(MSG_OOB) of 2 bytes", send(fd, "ab", 2, MSG_OOB));
    R("send(MSG_OOB) of 0 bytes", send(fd, "", 0, MSG_OOB));
    seti(fd, SOL_SOCKET, SO_OOBINLINE, 1, "setsockopt(SO_OOBINLINE, 1)");
    geti(fd, SOL_SOCKET, SO_OOBINLINE, "getsockopt(SO_OOBINLINE)");
    R("with SO_OOBINLINE: recv(MSG_OOB)", recv(fd, &c, 1, MSG_OOB | MSG_DONTWAIT));
    char buf[32];
    line("  reads", "%ld bytes", recv_some(fd, buf, 20));
    close(fd);
    int l = listener();
    R("listener: recv(MSG_OOB)", recv(l, &c, 1, MSG_OOB | MSG_DONTWAIT));
    mark = -1;
    R("listener: ioctl(SIOCATMARK)", ioctl(l, SIOCATMARK, &mark));
    line("  mark", "%d", mark);
    close(l);
    int u = udp();
    struct sockaddr_in a = kaddr(ECHO);
    R("udp: recv(MSG_OOB)", recv(u, &c, 1, MSG_OOB | MSG_DONTWAIT));
    R("udp: sendto(MSG_OOB)", sendto(u, "x", 1, MSG_OOB, SA(a), sizeof a));
    close(u);
}

static void run(const char *title, check_fn f) {
    checkno++;
    sub = 0;
    /* SOCKAPI_ONLY=N: check N alone (the numbers stay those of the whole run). */
    const char *only = getenv("SOCKAPI_ONLY");
    if (only && *only && atoi(only) != checkno) return;
    fflush(stdout);
    pid_t p = fork();
    if (p < 0) {
        printf("%02d.-- %s: fork failed %s\n", checkno, title, ename(errno));
        return;
    }
    if (p == 0) {
        alarm(20);
        f();
        fflush(stdout);
        _exit(0);
    }
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st))
        printf("%02d.-- %s: killed by %s\n", checkno, title, sigabbrev_np(WTERMSIG(st)));
    else if (WEXITSTATUS(st) != 0)
        printf("%02d.-- %s: exit %d\n", checkno, title, WEXITSTATUS(st));
    fflush(stdout);
}

/* The IP options asking for control messages with each datagram (IP_PKTINFO, IP_RECVTTL,
 * IP_RECVTOS, IP_RECVORIGDSTADDR), before and after bind, as an int and as one byte, on UDP and
 * TCP; then sendmsg with IP_PKTINFO, IP_TTL and IP_TOS control messages (ip_cmsg_send and the
 * route lookup's errnos). */
/* One datagram to `to` with one control message of `len` bytes from `data`. */
static void send_cmsg_to(int u, const struct sockaddr *to, socklen_t tolen, int level, int type,
                         const void *data, size_t len, const char *what) {
    union {
        char buf[CMSG_SPACE(64)];
        struct cmsghdr align;
    } c;
    memset(&c, 0, sizeof c);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    struct msghdr m = {.msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = c.buf, .msg_controllen = CMSG_SPACE(len)};
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = level;
    h->cmsg_type = type;
    h->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(h), data, len);
    R(what, sendmsg(u, &m, 0));
}

/* The same to the kernel side's closed port. */
static void send_cmsg(int u, int level, int type, const void *data, size_t len, const char *what) {
    struct sockaddr_in to = kaddr(CLOSED_PORT);
    send_cmsg_to(u, SA(to), sizeof to, level, type, data, len, what);
}

static void pktinfo(int u, int ifindex, const char *spec, const char *what) {
    struct in_pktinfo i = {.ipi_ifindex = ifindex};
    inet_pton(AF_INET, spec, &i.ipi_spec_dst);
    send_cmsg(u, IPPROTO_IP, IP_PKTINFO, &i, sizeof i, what);
}

static void c_ip_recv_options(void) {
    static const struct { int opt; const char *name; } opts[] = {
        {IP_PKTINFO, "IP_PKTINFO"}, {IP_RECVTTL, "IP_RECVTTL"}, {IP_RECVTOS, "IP_RECVTOS"},
        {IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR"}};
    int u = udp();
    struct sockaddr_in a = saddr(LISTEN_BASE + checkno);
    geti(u, IPPROTO_IP, IP_PKTINFO, "unbound: IP_PKTINFO");
    need(bind(u, SA(a), sizeof a) == 0, "bind udp");
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        geti(u, IPPROTO_IP, opts[i].opt, N("bound: get %s", opts[i].name));
        seti(u, IPPROTO_IP, opts[i].opt, 5, N("bound: set %s 5", opts[i].name));
        geti(u, IPPROTO_IP, opts[i].opt, N("bound: get %s", opts[i].name));
        char zero = 0;
        R(N("bound: set %s one byte 0", opts[i].name),
          setsockopt(u, IPPROTO_IP, opts[i].opt, &zero, 1));
        geti(u, IPPROTO_IP, opts[i].opt, N("bound: get %s", opts[i].name));
        R(N("bound: set %s length 0", opts[i].name), setsockopt(u, IPPROTO_IP, opts[i].opt, &zero, 0));
    }
    int t = conn(ECHO);
    seti(t, IPPROTO_IP, IP_PKTINFO, 1, "tcp: set IP_PKTINFO");
    geti(t, IPPROTO_IP, IP_PKTINFO, "tcp: get IP_PKTINFO");
    seti(t, IPPROTO_IP, IP_RECVTOS, 1, "tcp: set IP_RECVTOS");
    geti(t, IPPROTO_IP, IP_RECVTOS, "tcp: get IP_RECVTOS");

    pktinfo(u, 0, "0.0.0.0", "sendmsg IP_PKTINFO 0.0.0.0");
    pktinfo(u, 0, STACK_IP, "sendmsg IP_PKTINFO ours");
    pktinfo(u, 0, KERNEL_IP, "sendmsg IP_PKTINFO the peer's");
    pktinfo(u, 0, "127.0.0.1", "sendmsg IP_PKTINFO loopback");
    pktinfo(u, 0, "224.0.0.1", "sendmsg IP_PKTINFO multicast");
    pktinfo(u, 0, "255.255.255.255", "sendmsg IP_PKTINFO broadcast");
    pktinfo(u, 99999, "0.0.0.0", "sendmsg IP_PKTINFO no such interface");
    pktinfo(u, 1, "0.0.0.0", "sendmsg IP_PKTINFO interface 1");
    send_cmsg(u, IPPROTO_IP, IP_PKTINFO, "short", 5, "sendmsg IP_PKTINFO short");
    int v = 0;
    send_cmsg(u, IPPROTO_IP, IP_TTL, &v, sizeof v, "sendmsg IP_TTL 0");
    v = 256;
    send_cmsg(u, IPPROTO_IP, IP_TTL, &v, sizeof v, "sendmsg IP_TTL 256");
    v = 9;
    send_cmsg(u, IPPROTO_IP, IP_TTL, &v, sizeof v, "sendmsg IP_TTL 9");
    send_cmsg(u, IPPROTO_IP, IP_TTL, &v, 1, "sendmsg IP_TTL one byte");
    v = 0x10;
    send_cmsg(u, IPPROTO_IP, IP_TOS, &v, sizeof v, "sendmsg IP_TOS int");
    send_cmsg(u, IPPROTO_IP, IP_TOS, &v, 1, "sendmsg IP_TOS one byte");
    v = 300;
    send_cmsg(u, IPPROTO_IP, IP_TOS, &v, sizeof v, "sendmsg IP_TOS 300");
    v = 1;
    send_cmsg(u, IPPROTO_IP, IP_RECVTTL, &v, sizeof v, "sendmsg IP_RECVTTL");
    send_cmsg(u, SOL_SOCKET, 99, &v, sizeof v, "sendmsg SOL_SOCKET 99");
    send_cmsg(u, IPPROTO_TCP, 1, &v, sizeof v, "sendmsg IPPROTO_TCP level");
}

/* UDP sockets sharing a port (udp_lib_lport_inuse): both with SO_REUSEADDR, or both with
 * SO_REUSEPORT; never a socket without either, nor one with the other option only. */
static int udp_bound(int reuseaddr, int reuseport, const char *ip, int port, const char *what) {
    int u = udp();
    if (reuseaddr) seti(u, SOL_SOCKET, SO_REUSEADDR, 1, N("%s: SO_REUSEADDR", what));
    if (reuseport) seti(u, SOL_SOCKET, SO_REUSEPORT, 1, N("%s: SO_REUSEPORT", what));
    struct sockaddr_in a = addr_of(ip, port);
    R(N("%s: bind", what), bind(u, SA(a), sizeof a));
    return u;
}

static void c_udp_reuse(void) {
    int port = LISTEN_BASE + checkno, port2 = port + 100;
    int a = udp_bound(1, 0, "0.0.0.0", port, "reuseaddr 1");
    geti(a, SOL_SOCKET, SO_REUSEADDR, "reuseaddr 1: get SO_REUSEADDR");
    udp_bound(1, 0, "0.0.0.0", port, "reuseaddr 2");
    udp_bound(1, 0, STACK_IP, port, "reuseaddr, ours");
    udp_bound(0, 0, "0.0.0.0", port, "plain");
    udp_bound(0, 0, STACK_IP, port, "plain, ours");
    udp_bound(0, 1, "0.0.0.0", port, "reuseport");
    int p = udp_bound(0, 1, "0.0.0.0", port2, "reuseport 1");
    geti(p, SOL_SOCKET, SO_REUSEPORT, "reuseport 1: get SO_REUSEPORT");
    udp_bound(0, 1, "0.0.0.0", port2, "reuseport 2");
    udp_bound(0, 1, STACK_IP, port2, "reuseport, ours");
    udp_bound(1, 0, "0.0.0.0", port2, "reuseaddr among reuseport");
    udp_bound(1, 1, "0.0.0.0", port2, "both among reuseport");
}

/* recv and recvmsg with MSG_ERRQUEUE on a TCP socket whose error queue is empty: EAGAIN at once
 * (ip_recv_error), blocking or not, and the stream's data stays for the next read. */
static void c_tcp_errqueue(void) {
    int fd = conn(SENDER);
    wait_readable(fd);
    char buf[64];
    R("recv MSG_ERRQUEUE|MSG_DONTWAIT", recv(fd, buf, sizeof buf, MSG_ERRQUEUE | MSG_DONTWAIT));
    R("recv MSG_ERRQUEUE", recv(fd, buf, sizeof buf, MSG_ERRQUEUE));
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    char control[64];
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                       .msg_controllen = sizeof control};
    R("recvmsg MSG_ERRQUEUE", recvmsg(fd, &m, MSG_ERRQUEUE));
    long n = R("then recv", recv_some(fd, buf, 20));
    line("then recv data", "%s", show(buf, n));
    int l = listener();
    R("listener: recv MSG_ERRQUEUE", recv(l, buf, sizeof buf, MSG_ERRQUEUE | MSG_DONTWAIT));
}

/* AF_INET6 sockets carrying IPv4 (dual-stack, IPV6_V6ONLY off): addresses as sockaddr_in6 with
 * IPv4-mapped addresses, the argument checks of inet6_bind and tcp_v6_connect, the IPV6 level.
 * Ephemeral ports are left out of what is printed (bytes 2 and 3 of a sockaddr_in6). */
static struct sockaddr_in6 addr6(const char *ip, int port) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((unsigned short)port);
    need(inet_pton(AF_INET6, ip, &a.sin6_addr) == 1, "inet_pton");
    return a;
}

static int tcp6(void) {
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    need(fd >= 0, "socket AF_INET6");
    return fd;
}

/* A sockaddr_in6 read back into a buffer of `room` bytes (of 0xaa): return value, length, and the
 * bytes with the port blanked out when it is `ephemeral`. */
static void name6(int fd, int peer, socklen_t room, int ephemeral, const char *what) {
    unsigned char buf[32];
    memset(buf, 0xaa, sizeof buf);
    socklen_t len = room;
    errno = 0;
    int r = peer ? getpeername(fd, (struct sockaddr *)buf, &len) : getsockname(fd, (struct sockaddr *)buf, &len);
    if (r < 0) {
        line(what, "%d %s", r, ename(errno));
        return;
    }
    if (ephemeral && room > 2) buf[2] = 0xee;
    if (ephemeral && room > 3) buf[3] = 0xee;
    line(what, "%d len=%u bytes=%s", r, len, hex(buf, 30));
}

static void c_inet6(void) {
    int port = LISTEN_BASE + checkno;
    /* Argument checks on a pending AF_INET6 socket. */
    int p = tcp6();
    struct sockaddr_in v4 = saddr(port);
    R("bind(sockaddr_in, 16)", bind(p, SA(v4), sizeof v4));
    struct sockaddr_in6 any = addr6("::", port);
    struct sockaddr_in6 fam = any;
    fam.sin6_family = AF_INET;
    R("bind(family AF_INET, 28)", bind(p, SA(fam), sizeof fam));
    R("bind(addr, 23)", bind(p, SA(any), 23));
    struct sockaddr_in6 k = addr6("::ffff:" KERNEL_IP, ECHO);
    struct sockaddr_in6 lo6 = addr6("::1", ECHO);
    R("connect(sockaddr_in, 16)", connect(p, SA(v4), sizeof v4));
    R("connect(family AF_INET, 28)", connect(p, SA(fam), sizeof fam));
    struct sockaddr_in6 unspec = {.sin6_family = AF_UNSPEC};
    R("connect(AF_UNSPEC) unconnected", connect(p, SA(unspec), sizeof unspec));
    geti(p, SOL_SOCKET, SO_DOMAIN, "pending: SO_DOMAIN");
    geti(p, IPPROTO_IPV6, IPV6_V6ONLY, "pending: IPV6_V6ONLY");
    name6(p, 0, 28, 0, "pending: getsockname");

    /* A [::] listener: on the stack, 0.0.0.0 on its port, shown as ::. */
    int l = tcp6();
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    R("bind([::])", bind(l, SA(any), 24));
    R("bind again", bind(l, SA(any), sizeof any));
    R("listen", listen(l, 8));
    name6(l, 0, 28, 0, "listener: getsockname");
    name6(l, 0, 10, 0, "listener: getsockname(10)");
    name6(l, 0, 0, 0, "listener: getsockname(0)");
    name6(l, 1, 28, 0, "listener: getpeername");
    geti(l, SOL_SOCKET, SO_DOMAIN, "listener: SO_DOMAIN");
    geti(l, IPPROTO_IPV6, IPV6_V6ONLY, "listener: IPV6_V6ONLY");
    {
        unsigned char b[4] = {0xaa, 0xaa, 0xaa, 0xaa};
        socklen_t len = 1;
        int r = getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, b, &len);
        line("listener: IPV6_V6ONLY(1)", "%d len=%u bytes=%s", r, len, hex(b, 4));
    }
    R("listener: set IPV6_V6ONLY 1", setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    R("listener: set IPV6_V6ONLY 0", setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &(int){0}, sizeof(int)));
    R("listener: set IPV6_V6ONLY short", setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &(int){0}, 2));
    R("listener: set IPV6_TCLASS 0x2b", setsockopt(l, IPPROTO_IPV6, IPV6_TCLASS, &(int){0x2b}, sizeof(int)));
    geti(l, IPPROTO_IPV6, IPV6_TCLASS, "listener: IPV6_TCLASS");
    R("listener: set IPV6_TCLASS 256", setsockopt(l, IPPROTO_IPV6, IPV6_TCLASS, &(int){256}, sizeof(int)));
    R("listener: set IP_TOS", setsockopt(l, IPPROTO_IP, IP_TOS, &(int){0x10}, sizeof(int)));
    geti(l, IPPROTO_IP, IP_TOS, "listener: IP_TOS");
    R("listener: connect(::1)", connect(l, SA(lo6), sizeof lo6));

    /* An accepted connection, its peer's address cut to 10 bytes, then whole. */
    pending(l);
    unsigned char buf[32];
    memset(buf, 0xaa, sizeof buf);
    socklen_t len = 10;
    int a = accept(l, (struct sockaddr *)buf, &len);
    buf[2] = buf[3] = 0xee;
    line("accept(10)", "%s len=%u bytes=%s", a >= 0 ? "fd" : ename(errno), len, hex(buf, 12));
    if (a >= 0) {
        name6(a, 0, 28, 0, "accepted: getsockname");
        name6(a, 1, 28, 1, "accepted: getpeername");
        name6(a, 1, 20, 1, "accepted: getpeername(20)");
        geti(a, SOL_SOCKET, SO_DOMAIN, "accepted: SO_DOMAIN");
        geti(a, IPPROTO_IPV6, IPV6_V6ONLY, "accepted: IPV6_V6ONLY");
        geti(a, IPPROTO_IPV6, IPV6_TCLASS, "accepted: IPV6_TCLASS");
    }

    /* A client to ::ffff:10.77.0.1. */
    int c = tcp6();
    R("connect(::ffff:" KERNEL_IP ")", connect(c, SA(k), sizeof k));
    timeouts(c);
    name6(c, 0, 28, 1, "client: getsockname");
    name6(c, 1, 28, 0, "client: getpeername");
    R("client: send", send(c, "ping6", 5, 0));
    char got[8] = {0};
    R("client: recv", recv_some(c, got, 5));
    line("client: echoed", "%s", show(got, 5));
    R("client: connect again", connect(c, SA(k), sizeof k));
    R("client: connect(::1)", connect(c, SA(lo6), sizeof lo6));
    R("client: set IPV6_V6ONLY 0", setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &(int){0}, sizeof(int)));
    geti(c, SOL_SOCKET, SO_DOMAIN, "client: SO_DOMAIN");

    /* IPv6 traffic stays on the kernel: a documentation address has no route; V6ONLY [::]. */
    struct sockaddr_in6 doc = addr6("2001:db8::1", ECHO);
    R("connect(2001:db8::1)", connect(tcp6(), SA(doc), sizeof doc));
    int o = tcp6();
    setsockopt(o, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    R("V6ONLY: connect(::ffff:" KERNEL_IP ")", connect(o, SA(k), sizeof k));
    int o2 = tcp6();
    setsockopt(o2, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    struct sockaddr_in6 mapped_self = addr6("::ffff:" STACK_IP, 0);
    R("V6ONLY: bind(::ffff:" STACK_IP ")", bind(o2, SA(mapped_self), sizeof mapped_self));
}

/* AF_INET6 UDP carrying IPv4: udpv6_sendmsg's and ip6_datagram_connect's argument checks (which
 * take AF_INET addresses too), and the addresses read back. Nothing answers the datagrams. */
static void c_inet6_udp(void) {
    int port = LISTEN_BASE + checkno;
    struct sockaddr_in k4 = kaddr(CLOSED_PORT);
    struct sockaddr_in6 k6 = addr6("::ffff:" KERNEL_IP, CLOSED_PORT);
    struct sockaddr_in6 unspec = {.sin6_family = AF_UNSPEC};
    int u = socket(AF_INET6, SOCK_DGRAM, 0);
    need(u >= 0, "socket AF_INET6 udp");
    R("sendto(AF_INET6, 20)", sendto(u, "x", 1, 0, SA(k6), 20));
    struct sockaddr_in6 unix6 = k6;
    unix6.sin6_family = AF_UNIX;
    R("sendto(family AF_UNIX, 28)", sendto(u, "x", 1, 0, SA(unix6), sizeof unix6));
    R("sendto(AF_UNSPEC) unconnected", sendto(u, "x", 1, 0, SA(unspec), sizeof unspec));
    struct sockaddr_in6 zero = addr6("::ffff:" KERNEL_IP, 0);
    R("sendto(port 0)", sendto(u, "x", 1, 0, SA(zero), sizeof zero));
    R("sendto(sockaddr_in, 16)", sendto(u, "x", 1, 0, SA(k4), sizeof k4));
    name6(u, 0, 28, 1, "after sendto: getsockname");
    geti(u, SOL_SOCKET, SO_DOMAIN, "SO_DOMAIN");
    geti(u, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY");
    R("sendto(::ffff:" KERNEL_IP ")", sendto(u, "x", 1, 0, SA(k6), sizeof k6));
    R("sendto(AF_INET, 8)", sendto(u, "x", 1, 0, SA(k4), 8));
    /* The port-unreachable answers to the datagrams above must come while the socket is still
     * unconnected, where Linux drops them (__udp4_lib_err); the kernel's own peer answers within
     * the sendto, one across the TAP a moment later, and one arriving after the connect would
     * fail the send below with ECONNREFUSED, as a remote peer's would on Linux. */
    usleep(100000);
    R("connect(sockaddr_in, 16)", connect(u, SA(k4), sizeof k4));
    name6(u, 1, 28, 0, "connected: getpeername");
    R("send connected", send(u, "x", 1, 0));
    R("connect(family AF_UNIX, 16)", connect(u, SA(unix6), 16));
    R("connect(family AF_UNIX, 28)", connect(u, SA(unix6), sizeof unix6));
    R("connect(::ffff:" KERNEL_IP ")", connect(u, SA(k6), sizeof k6));
    name6(u, 1, 28, 0, "connected again: getpeername");
    R("connect(AF_UNSPEC)", connect(u, SA(unspec), sizeof unspec));
    name6(u, 1, 28, 0, "dissolved: getpeername");
    int b = socket(AF_INET6, SOCK_DGRAM, 0);
    need(b >= 0, "socket AF_INET6 udp");
    struct sockaddr_in6 any = addr6("::", port);
    R("bind([::])", bind(b, SA(any), sizeof any));
    name6(b, 0, 28, 0, "bound: getsockname");
    R("bound: sendto(::ffff:" KERNEL_IP ")", sendto(b, "x", 1, 0, SA(k6), sizeof k6));
    unsigned char buf[8];
    R("bound: recv nothing", recv(b, buf, sizeof buf, MSG_DONTWAIT));
}

/* sendmsg with IPV6_PKTINFO on a dual-stack UDP socket to an IPv4-mapped peer: Linux's
 * ip_cmsg_send takes it as IP_PKTINFO's source and interface when its address is IPv4-mapped,
 * and refuses any other (::, ::1, a global one) with EINVAL; an AF_INET socket passes it over. */
static void pktinfo6(int u, int ifindex, const char *src, size_t len, const char *what) {
    struct sockaddr_in6 to = addr6("::ffff:" KERNEL_IP, CLOSED_PORT);
    struct in6_pktinfo i = {.ipi6_ifindex = (unsigned)ifindex};
    need(inet_pton(AF_INET6, src, &i.ipi6_addr) == 1, "inet_pton");
    send_cmsg_to(u, SA(to), sizeof to, IPPROTO_IPV6, IPV6_PKTINFO, &i, len, what);
}

static void c_inet6_pktinfo(void) {
    int u = socket(AF_INET6, SOCK_DGRAM, 0);
    need(u >= 0, "socket AF_INET6 udp");
    pktinfo6(u, 0, "::ffff:" STACK_IP, sizeof(struct in6_pktinfo), "IPV6_PKTINFO ours, mapped");
    pktinfo6(u, 0, "::ffff:0.0.0.0", sizeof(struct in6_pktinfo), "IPV6_PKTINFO 0.0.0.0, mapped");
    pktinfo6(u, 0, "::", sizeof(struct in6_pktinfo), "IPV6_PKTINFO ::");
    pktinfo6(u, 0, "::1", sizeof(struct in6_pktinfo), "IPV6_PKTINFO ::1");
    pktinfo6(u, 0, "2001:db8::1", sizeof(struct in6_pktinfo), "IPV6_PKTINFO global");
    pktinfo6(u, 0, "::ffff:" KERNEL_IP, sizeof(struct in6_pktinfo), "IPV6_PKTINFO the peer's, mapped");
    pktinfo6(u, 0, "::ffff:127.0.0.1", sizeof(struct in6_pktinfo), "IPV6_PKTINFO loopback, mapped");
    pktinfo6(u, 99999, "::ffff:0.0.0.0", sizeof(struct in6_pktinfo), "IPV6_PKTINFO no such interface");
    pktinfo6(u, 0, "::ffff:" STACK_IP, 8, "IPV6_PKTINFO short");
    int v4 = socket(AF_INET, SOCK_DGRAM, 0);
    need(v4 >= 0, "socket AF_INET udp");
    struct in6_pktinfo none = {0};
    send_cmsg(v4, IPPROTO_IPV6, IPV6_PKTINFO, &none, sizeof none, "AF_INET: IPV6_PKTINFO passed over");
    close(v4);
    close(u);
}

/* shutdown of a socket that is not connected: Linux's inet_shutdown says ENOTCONN for one in
 * TCP_CLOSE (bound TCP, bound or unbound UDP), each way, and records the shutdown all the same;
 * a connected UDP socket and a TCP connection take it. */
static void c_shutdown_unconnected(void) {
    const int hows[] = {SHUT_RD, SHUT_WR, SHUT_RDWR};
    const char *names[] = {"SHUT_RD", "SHUT_WR", "SHUT_RDWR"};
    char what[64];
    for (int k = 0; k < 3; k++) {
        int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
        need(t >= 0 && u >= 0, "socket");
        struct sockaddr_in any = saddr(0);
        R("tcp: bind", bind(t, SA(any), sizeof any));
        R("udp: bind", bind(u, SA(any), sizeof any));
        snprintf(what, sizeof what, "tcp bound: shutdown(%s)", names[k]);
        R(what, shutdown(t, hows[k]));
        snprintf(what, sizeof what, "udp bound: shutdown(%s)", names[k]);
        R(what, shutdown(u, hows[k]));
        struct sockaddr_in to = kaddr(CLOSED_PORT);
        R("udp: connect", connect(u, SA(to), sizeof to));
        snprintf(what, sizeof what, "udp connected: shutdown(%s)", names[k]);
        R(what, shutdown(u, hows[k]));
        close(t);
        close(u);
    }
    int c = conn(ECHO);
    R("tcp connected: shutdown(SHUT_WR)", shutdown(c, SHUT_WR));
    close(c);
}

/* The IPv6 hop limits and multicast options of a dual-stack socket, which Java's multicast
 * sockets set beside the IP_* ones: read back with Linux's checks (out of range, short, a TCP
 * socket's multicast hops and interface, an interface that does not exist). */
/* SO_RCVLOWAT on TCP: poll, select and epoll report the socket readable once that much is queued
 * (tcp_poll), or at the peer's FIN; a blocking read waits for it; a listener's passes to the
 * sockets it accepts (sk_clone). */
static void c_rcvlowat(void) {
    int fd = conn(ECHO);
    seti(fd, SOL_SOCKET, SO_RCVLOWAT, 10, "setsockopt(SO_RCVLOWAT, 10)");
    geti(fd, SOL_SOCKET, SO_RCVLOWAT, "getsockopt(SO_RCVLOWAT)");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    R("send 3 bytes", send(fd, "abc", 3, 0));
    usleep(200000);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    line("  3 bytes back: poll", "%d revents=%#x", n, p.revents);
    line("  3 bytes back: epoll_wait", "%d", epoll_wait(ep, &out, 1, 0));
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    struct timeval tv = {0, 0};
    line("  3 bytes back: select", "%d", select(fd + 1, &r, NULL, NULL, &tv));
    R("send 9 more", send(fd, "defghijkl", 9, 0));
    usleep(200000);
    p.revents = 0;
    n = poll(&p, 1, 0);
    line("  12 bytes back: poll", "%d revents=%#x", n, p.revents);
    line("  12 bytes back: epoll_wait", "%d", epoll_wait(ep, &out, 1, 0));
    char buf[64];
    R("recv", recv(fd, buf, sizeof buf, 0));
    R("send 2 bytes", send(fd, "xy", 2, 0));
    usleep(100000);
    R("send 8 more", send(fd, "zzzzzzzz", 8, 0));
    R("blocking recv", recv(fd, buf, sizeof buf, 0));
    R("send 3 bytes", send(fd, "end", 3, 0));
    R("shutdown(SHUT_WR)", shutdown(fd, SHUT_WR));
    usleep(300000);
    p.revents = 0;
    n = poll(&p, 1, 0);
    line("  3 bytes and FIN back: poll", "%d revents=%#x", n, p.revents);
    R("recv", recv(fd, buf, sizeof buf, 0));
    R("recv at end", recv(fd, buf, sizeof buf, 0));
    close(ep);
    close(fd);
    int l = listener();
    seti(l, SOL_SOCKET, SO_RCVLOWAT, 5, "listener: setsockopt(SO_RCVLOWAT, 5)");
    pending(l);
    int a = accept(l, NULL, NULL);
    need(a >= 0, "accept");
    geti(a, SOL_SOCKET, SO_RCVLOWAT, "accepted: getsockopt(SO_RCVLOWAT)");
    close(a);
    close(l);
}

/* The sizes a TCP socket's buffers report before any SO_RCVBUF or SO_SNDBUF: tcp_rmem's and
 * tcp_wmem's defaults, then what the connection grew them to once established. */
static void c_bufs_start(void) {
    int fd = tcp();
    geti(fd, SOL_SOCKET, SO_RCVBUF, "new: getsockopt(SO_RCVBUF)");
    geti(fd, SOL_SOCKET, SO_SNDBUF, "new: getsockopt(SO_SNDBUF)");
    connect_to(fd, ECHO);
    usleep(100000);
    geti(fd, SOL_SOCKET, SO_RCVBUF, "connected: getsockopt(SO_RCVBUF)");
    geti(fd, SOL_SOCKET, SO_SNDBUF, "connected: getsockopt(SO_SNDBUF)");
    close(fd);
    int l = listener();
    geti(l, SOL_SOCKET, SO_SNDBUF, "listener: getsockopt(SO_SNDBUF)");
    pending(l);
    int a = accept(l, NULL, NULL);
    need(a >= 0, "accept");
    geti(a, SOL_SOCKET, SO_RCVBUF, "accepted: getsockopt(SO_RCVBUF)");
    geti(a, SOL_SOCKET, SO_SNDBUF, "accepted: getsockopt(SO_SNDBUF)");
    close(a);
    close(l);
}

static void c_inet6_hops(void) {
    static const struct {
        int opt;
        const char *name;
    } opts[] = {{IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS"},
                {IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS"},
                {IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP"},
                {IPV6_MULTICAST_IF, "IPV6_MULTICAST_IF"}};
    static const int vals[] = {-2, -1, 0, 1, 2, 255, 256, 999};
    for (int kind = 0; kind < 2; kind++) {
        int fd = socket(AF_INET6, kind ? SOCK_STREAM : SOCK_DGRAM, 0);
        need(fd >= 0, "socket AF_INET6");
        struct sockaddr_in6 any = addr6("::", 0);
        need(bind(fd, SA(any), sizeof any) == 0, "bind [::]");
        const char *k = kind ? "tcp" : "udp";
        for (size_t o = 0; o < sizeof opts / sizeof *opts; o++) {
            geti(fd, IPPROTO_IPV6, opts[o].opt, N("%s: %s", k, opts[o].name));
            for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
                seti(fd, IPPROTO_IPV6, opts[o].opt, vals[i], N("%s: set %s %d", k, opts[o].name, vals[i]));
                geti(fd, IPPROTO_IPV6, opts[o].opt, N("  then %s", opts[o].name));
            }
            unsigned char one = 1;
            R(N("%s: set %s as one byte", k, opts[o].name), setsockopt(fd, IPPROTO_IPV6, opts[o].opt, &one, 1));
        }
        close(fd);
    }
}

/* A wildcard listener is reached on loopback, as on Linux: at 127.0.0.1 and at 0.0.0.0 (the local
 * host as a destination), `[::]` at ::ffff:127.0.0.1 and ::1 too. The accepted socket is the
 * kernel's own: its addresses, SO_DOMAIN, accept4's flags, data both ways. Ephemeral ports are
 * blanked out. Once the listener is closed, loopback is refused. */
static int loop_accept(int l, socklen_t room, int flags, const char *what) {
    struct pollfd p = {.fd = l, .events = POLLIN};
    need(poll(&p, 1, 5000) == 1, "poll the listener");
    unsigned char buf[32];
    memset(buf, 0xaa, sizeof buf);
    socklen_t len = room;
    int a = RFD(what, accept4(l, (struct sockaddr *)buf, &len, flags));
    if (room > 2) buf[2] = 0xee;
    if (room > 3) buf[3] = 0xee;
    line("  the peer", "len=%u bytes=%s", len, hex(buf, 30));
    if (a < 0) return a;
    line("  its flags", "nonblock=%d cloexec=%d", (fcntl(a, F_GETFL) & O_NONBLOCK) != 0,
         (fcntl(a, F_GETFD) & FD_CLOEXEC) != 0);
    geti(a, SOL_SOCKET, SO_DOMAIN, "  SO_DOMAIN");
    name6(a, 0, 32, 0, "  getsockname");
    name6(a, 1, 32, 1, "  getpeername");
    return a;
}

static void loop_data(int a, int c) {
    timeouts(a);
    timeouts(c);
    char b[8];
    R("  write to the client", write(a, "ping", 4));
    R("  the client reads", recv(c, b, sizeof b, 0));
    R("  the client writes", write(c, "pong", 4));
    R("  read", recv(a, b, sizeof b, 0));
}

/* The address in a sockaddr_in, and whether its port is `port` (ephemeral ones vary). */
static const char *where(struct sockaddr_in a, int port) {
    return N("%s port %s", inet_ntoa(a.sin_addr), ntohs(a.sin_port) == port ? "same" : "other");
}

/* Sockets a bind to the wildcard put on the stack that then talk to loopback, which Linux
 * reaches over lo: a UDP one receives from a kernel socket at 127.0.0.1 and answers it (from
 * 127.0.0.1 and its port), then connects there; a TCP one bound to port 0 connects to a kernel
 * listener on 127.0.0.1. */
static void c_loopback_after_bind(void) {
    int port = LISTEN_BASE + checkno;
    struct sockaddr_in any = addr_of("0.0.0.0", port), lo = addr_of("127.0.0.1", port);
    int u = udp();
    need(bind(u, SA(any), sizeof any) == 0, "bind 0.0.0.0");
    int k = udp();
    R("kernel socket: sendto 127.0.0.1", sendto(k, "ping", 4, 0, SA(lo), sizeof lo));
    wait_readable(u);
    struct sockaddr_in from = {0};
    socklen_t len = sizeof from;
    char buf[16];
    long n = recvfrom(u, buf, sizeof buf, MSG_DONTWAIT, SA(from), &len);
    line("wildcard: recvfrom", "%ld %s len=%d from %s", n, show(buf, n), (int)len, inet_ntoa(from.sin_addr));
    R("wildcard: sendto the sender", sendto(u, "pong", 4, 0, SA(from), len));
    wait_readable(k);
    struct sockaddr_in back = {0};
    len = sizeof back;
    n = recvfrom(k, buf, sizeof buf, MSG_DONTWAIT, SA(back), &len);
    line("kernel socket: recvfrom", "%ld %s from %s", n, show(buf, n), where(back, port));
    R("wildcard: connect the sender", connect(u, SA(from), sizeof from));
    struct sockaddr_in name = {0};
    len = sizeof name;
    R("  getsockname", getsockname(u, SA(name), &len));
    line("  its address", "%s", where(name, port));
    R("  send", send(u, "again", 5, 0));
    wait_readable(k);
    n = recv(k, buf, sizeof buf, MSG_DONTWAIT);
    line("kernel socket: recv", "%ld %s", n, show(buf, n));

    int one = 1;
    int l = tcp();
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    need(bind(l, SA(lo), sizeof lo) == 0, "bind 127.0.0.1");
    need(listen(l, 8) == 0, "listen");
    int c = tcp();
    struct sockaddr_in any0 = addr_of("0.0.0.0", 0);
    need(bind(c, SA(any0), sizeof any0) == 0, "bind 0.0.0.0:0");
    R("tcp bound to port 0: connect 127.0.0.1", connect(c, SA(lo), sizeof lo));
    len = sizeof name;
    R("  getpeername", getpeername(c, SA(name), &len));
    line("  its peer", "%s", where(name, port));
    int a = accept(l, NULL, NULL);
    line("  accepted", "%s", a >= 0 ? "yes" : ename(errno));
    if (a >= 0) {
        R("  send", send(c, "hello", 5, 0));
        n = recv_some(a, buf, 5);
        line("  the listener's side", "%ld %s", n, show(buf, n));
        close(a);
    }
    close(c);
    close(l);
    close(k);
    close(u);
}

static void c_loopback(void) {
    int port = LISTEN_BASE + checkno;
    int one = 1;
    int l = tcp();
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in any = addr_of("0.0.0.0", port), lo = addr_of("127.0.0.1", port);
    need(bind(l, SA(any), sizeof any) == 0, "bind 0.0.0.0");
    need(listen(l, 8) == 0, "listen");
    int c = tcp();
    R("connect 127.0.0.1", connect(c, SA(lo), sizeof lo));
    int a = loop_accept(l, 4, SOCK_NONBLOCK | SOCK_CLOEXEC, "accept4(addr, len 4, NONBLOCK|CLOEXEC)");
    if (a >= 0) {
        fcntl(a, F_SETFL, 0);
        loop_data(a, c);
        close(a);
    }
    close(c);
    c = tcp();
    R("connect 0.0.0.0", connect(c, SA(any), sizeof any));
    name6(c, 1, 32, 0, "  getpeername");
    a = loop_accept(l, 16, 0, "accept4(addr, len 16, 0)");
    if (a >= 0) {
        loop_data(a, c);
        close(a);
    }
    close(c);
    close(l);
    usleep(300000); /* the service learns of the listener's last close a moment later */
    R("connect 127.0.0.1 after the close", connect(tcp(), SA(lo), sizeof lo));

    port += 100;
    int l6 = tcp6();
    setsockopt(l6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 any6 = addr6("::", port), lo6 = addr6("::1", port);
    need(bind(l6, (struct sockaddr *)&any6, sizeof any6) == 0, "bind [::]");
    need(listen(l6, 8) == 0, "listen [::]");
    lo = addr_of("127.0.0.1", port);
    c = tcp();
    R("[::] listener: connect 127.0.0.1", connect(c, SA(lo), sizeof lo));
    a = loop_accept(l6, 28, 0, "  accept4(addr, len 28, 0)");
    if (a >= 0) {
        loop_data(a, c);
        close(a);
    }
    close(c);
    c = tcp6();
    R("[::] listener: connect ::1", connect(c, (struct sockaddr *)&lo6, sizeof lo6));
    a = loop_accept(l6, 28, SOCK_CLOEXEC, "  accept4(addr, len 28, CLOEXEC)");
    if (a >= 0) close(a);
    close(c);
}

/* IPv4 multicast options (do_ip_setsockopt, ip_mc_join_group, ip_mc_leave_group): defaults, int
 * and one-byte values, ranges, ip_mreq and ip_mreqn, errors; on a bound UDP socket, a fresh one
 * (joining takes it to the stack) and a bound TCP socket. */
static void mreq_set(int fd, int opt, const char *group, const char *ifaddr, int ifindex, socklen_t len,
                     const char *what) {
    struct ip_mreqn m = {.imr_ifindex = ifindex};
    inet_pton(AF_INET, group, &m.imr_multiaddr);
    inet_pton(AF_INET, ifaddr, &m.imr_address);
    R(what, setsockopt(fd, IPPROTO_IP, opt, &m, len));
}

static void get_mcif(int fd, const char *what) {
    unsigned char v[12];
    memset(v, 0xaa, sizeof v);
    socklen_t len = sizeof v;
    errno = 0;
    int r = getsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, v, &len);
    if (r < 0)
        line(what, "%d %s", r, ename(errno));
    else
        line(what, "%d len=%u %s", r, len, hex(v, len));
}

static void c_multicast(void) {
    int port = LISTEN_BASE + checkno;
    int u = udp();
    struct sockaddr_in any = addr_of("0.0.0.0", port);
    need(bind(u, SA(any), sizeof any) == 0, "bind udp");
    geti(u, IPPROTO_IP, IP_MULTICAST_TTL, "udp: IP_MULTICAST_TTL");
    geti(u, IPPROTO_IP, IP_MULTICAST_LOOP, "udp: IP_MULTICAST_LOOP");
    geti(u, IPPROTO_IP, IP_MULTICAST_ALL, "udp: IP_MULTICAST_ALL");
    get_mcif(u, "udp: IP_MULTICAST_IF");
    seti(u, IPPROTO_IP, IP_MULTICAST_TTL, 5, "set TTL 5");
    geti(u, IPPROTO_IP, IP_MULTICAST_TTL, "  get");
    unsigned char seven = 7;
    R("set TTL 7 as one byte", setsockopt(u, IPPROTO_IP, IP_MULTICAST_TTL, &seven, 1));
    geti(u, IPPROTO_IP, IP_MULTICAST_TTL, "  get");
    seti(u, IPPROTO_IP, IP_MULTICAST_TTL, -1, "set TTL -1");
    geti(u, IPPROTO_IP, IP_MULTICAST_TTL, "  get");
    seti(u, IPPROTO_IP, IP_MULTICAST_TTL, 256, "set TTL 256");
    seti(u, IPPROTO_IP, IP_MULTICAST_TTL, -2, "set TTL -2");
    seti(u, IPPROTO_IP, IP_MULTICAST_TTL, 0, "set TTL 0");
    R("set TTL, optlen 0", setsockopt(u, IPPROTO_IP, IP_MULTICAST_TTL, &seven, 0));
    seti(u, IPPROTO_IP, IP_MULTICAST_LOOP, 0, "set LOOP 0");
    geti(u, IPPROTO_IP, IP_MULTICAST_LOOP, "  get");
    R("set LOOP 7 as one byte", setsockopt(u, IPPROTO_IP, IP_MULTICAST_LOOP, &seven, 1));
    geti(u, IPPROTO_IP, IP_MULTICAST_LOOP, "  get");
    seti(u, IPPROTO_IP, IP_MULTICAST_ALL, 2, "set ALL 2");
    seti(u, IPPROTO_IP, IP_MULTICAST_ALL, 0, "set ALL 0");
    geti(u, IPPROTO_IP, IP_MULTICAST_ALL, "  get");
    struct in_addr ours, other, zero = {0};
    inet_pton(AF_INET, STACK_IP, &ours);
    inet_pton(AF_INET, "10.77.0.9", &other);
    R("set IF ours (in_addr)", setsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &ours, sizeof ours));
    get_mcif(u, "  get");
    R("set IF 10.77.0.9", setsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &other, sizeof other));
    R("set IF, optlen 2", setsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &ours, 2));
    mreq_set(u, IP_MULTICAST_IF, "239.1.1.1", "0.0.0.0", 9999, sizeof(struct ip_mreqn), "set IF ifindex 9999");
    mreq_set(u, IP_MULTICAST_IF, "239.1.1.1", STACK_IP, 0, sizeof(struct ip_mreq), "set IF ip_mreq ours");
    get_mcif(u, "  get");
    R("set IF 0.0.0.0", setsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &zero, sizeof zero));
    get_mcif(u, "  get");

    mreq_set(u, IP_ADD_MEMBERSHIP, "239.1.1.1", STACK_IP, 0, 4, "join, optlen 4");
    mreq_set(u, IP_ADD_MEMBERSHIP, "10.0.0.1", STACK_IP, 0, sizeof(struct ip_mreq), "join 10.0.0.1");
    mreq_set(u, IP_ADD_MEMBERSHIP, "239.1.1.1", "10.77.0.9", 0, sizeof(struct ip_mreq), "join on 10.77.0.9");
    mreq_set(u, IP_ADD_MEMBERSHIP, "239.1.1.1", STACK_IP, 0, sizeof(struct ip_mreq), "join 239.1.1.1 (ip_mreq)");
    mreq_set(u, IP_ADD_MEMBERSHIP, "239.1.1.1", STACK_IP, 0, sizeof(struct ip_mreq), "  again");
    mreq_set(u, IP_ADD_MEMBERSHIP, "239.1.1.2", STACK_IP, 0, sizeof(struct ip_mreqn), "join 239.1.1.2 (ip_mreqn)");
    mreq_set(u, IP_ADD_MEMBERSHIP, "224.0.0.1", STACK_IP, 0, sizeof(struct ip_mreq), "join 224.0.0.1");
    geti(u, IPPROTO_IP, IP_ADD_MEMBERSHIP, "get IP_ADD_MEMBERSHIP");
    mreq_set(u, IP_DROP_MEMBERSHIP, "239.1.1.1", STACK_IP, 0, sizeof(struct ip_mreq), "drop 239.1.1.1");
    mreq_set(u, IP_DROP_MEMBERSHIP, "239.1.1.1", STACK_IP, 0, sizeof(struct ip_mreq), "  again");
    mreq_set(u, IP_DROP_MEMBERSHIP, "239.9.9.9", STACK_IP, 0, sizeof(struct ip_mreq), "drop 239.9.9.9, never joined");
    mreq_set(u, IP_DROP_MEMBERSHIP, "10.0.0.1", STACK_IP, 0, sizeof(struct ip_mreq), "drop 10.0.0.1");
    mreq_set(u, IP_DROP_MEMBERSHIP, "239.1.1.2", STACK_IP, 0, 4, "drop, optlen 4");

    int f = udp();
    mreq_set(f, IP_ADD_MEMBERSHIP, "239.1.1.3", STACK_IP, 0, sizeof(struct ip_mreq), "fresh socket: join");
    for (int i = 1; i <= 20; i++) {
        struct ip_mreq m;
        m.imr_multiaddr.s_addr = htonl(0xef020000u + (unsigned)i);
        m.imr_interface = ours;
        if (setsockopt(f, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0) {
            line(N("  join number %d", i + 1), "-1 %s", ename(errno));
            break;
        }
    }

    int t = tcp();
    struct sockaddr_in tb = saddr(port);
    need(bind(t, SA(tb), sizeof tb) == 0, "bind tcp");
    geti(t, IPPROTO_IP, IP_MULTICAST_TTL, "tcp: IP_MULTICAST_TTL");
    geti(t, IPPROTO_IP, IP_MULTICAST_LOOP, "tcp: IP_MULTICAST_LOOP");
    seti(t, IPPROTO_IP, IP_MULTICAST_TTL, 5, "tcp: set TTL 5");
    seti(t, IPPROTO_IP, IP_MULTICAST_LOOP, 0, "tcp: set LOOP 0");
    geti(t, IPPROTO_IP, IP_MULTICAST_LOOP, "  get");
    seti(t, IPPROTO_IP, IP_MULTICAST_ALL, 0, "tcp: set ALL 0");
    geti(t, IPPROTO_IP, IP_MULTICAST_ALL, "  get");
    R("tcp: set IF ours", setsockopt(t, IPPROTO_IP, IP_MULTICAST_IF, &ours, sizeof ours));
    mreq_set(t, IP_ADD_MEMBERSHIP, "239.1.1.1", STACK_IP, 0, sizeof(struct ip_mreq), "tcp: join");
    mreq_set(t, IP_DROP_MEMBERSHIP, "239.1.1.1", STACK_IP, 0, sizeof(struct ip_mreq), "tcp: drop");

    /* Not built: source-specific and protocol-independent forms. */
    struct ip_mreq_source ms;
    inet_pton(AF_INET, "232.1.1.1", &ms.imr_multiaddr);
    ms.imr_interface = ours;
    inet_pton(AF_INET, KERNEL_IP, &ms.imr_sourceaddr);
    R("IP_ADD_SOURCE_MEMBERSHIP", setsockopt(u, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &ms, sizeof ms));
    struct group_req gr = {.gr_interface = 0};
    struct sockaddr_in g = addr_of("239.1.1.5", 0);
    memcpy(&gr.gr_group, &g, sizeof g);
    R("MCAST_JOIN_GROUP", setsockopt(u, IPPROTO_IP, MCAST_JOIN_GROUP, &gr, sizeof gr));
}

/* Non-blocking writes of 4 KiB until EAGAIN: the bytes written, or -1 on another error. */
static long write_until_eagain(int fd) {
    static char chunk[4096];
    long total = 0;
    for (int i = 0; i < 16384; i++) {
        ssize_t k = send(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (k < 0) return errno == EAGAIN ? total : -1;
        total += k;
    }
    return total;
}

/* Writes until EAGAIN and waits for POLLOUT, again and again, until a wait of 0.5 s finds none
 * (the peer's window has closed and what is unsent keeps the socket from polling writable) or
 * `secs` pass. Whether it stalled; the bytes written go to *total. */
static int write_until_stalled(int fd, double secs, long *total) {
    double end = now_s() + secs;
    while (now_s() < end) {
        long k = write_until_eagain(fd);
        if (k < 0) return 0;
        *total += k;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 500) == 0) return 1;
    }
    return 0;
}

static int outq(int fd) {
    int v = -1;
    return ioctl(fd, SIOCOUTQ, &v) < 0 ? -1 : v;
}

/* TCP_NOTSENT_LOWAT at work (Linux's tcp_stream_memory_free): to a peer that reads nothing, a
 * socket with a large send buffer and the mark at 16 KiB stops taking data with little unsent
 * (the mark, plus at most one buffer Linux fills past it), and polls writable again when the mark
 * is raised, then once the peer reads. */
static void c_notsent_stall(void) {
    int fd = tcp();
    seti(fd, SOL_SOCKET, SO_SNDBUF, 1 << 20, "setsockopt(SO_SNDBUF, 1 MiB)");
    connect_to(fd, HOLD);
    seti(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 16384, "setsockopt(TCP_NOTSENT_LOWAT, 16384)");
    long total = 0;
    int stalled = write_until_stalled(fd, 5, &total);
    line("writes until EAGAIN, then no POLLOUT for 0.5 s", "%s", stalled ? "stalled" : "never stalled");
    int q = outq(fd);
    fprintf(stderr, "notsent_stall: mark 16384: wrote %ld, SIOCOUTQ %d\n", total, q);
    line("  unsent then (SIOCOUTQ) at least 8 KiB and under 96 KiB", "%s",
         q >= 8192 && q < 96 * 1024 ? "yes" : "no");
    seti(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 1 << 20, "setsockopt(TCP_NOTSENT_LOWAT, 1 MiB)");
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n = poll(&p, 1, 1000);
    line("  then poll(POLLOUT, 1 s)", "%d revents=%#x", n, p.revents);
    long more = 0;
    stalled = write_until_stalled(fd, 5, &more);
    line("writes until EAGAIN again, then no POLLOUT for 0.5 s", "%s", stalled ? "stalled" : "never stalled");
    q = outq(fd);
    fprintf(stderr, "notsent_stall: mark 1 MiB: wrote %ld more, SIOCOUTQ %d\n", more, q);
    line("  unsent then (SIOCOUTQ) 96 KiB or more", "%s", q >= 96 * 1024 ? "yes" : "no");
    seti(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 16384, "setsockopt(TCP_NOTSENT_LOWAT, 16384) again");
    p.revents = 0;
    n = poll(&p, 1, 500);
    line("  then poll(POLLOUT, 0.5 s)", "%d revents=%#x", n, p.revents);
    close(conn(RELEASE));
    p.revents = 0;
    n = poll(&p, 1, 5000);
    line("the peer reads: poll(POLLOUT, 5 s)", "%d revents=%#x", n, p.revents);
    close(fd);
}

/* SO_RCVLOWAT on TCP with reads that cannot wait for the mark: Linux's tcp_recvmsg returns what
 * is there (MSG_DONTWAIT, MSG_PEEK, O_NONBLOCK, a blocking read whose SO_RCVTIMEO runs out). */
static void c_rcvlowat_nowait(void) {
    int fd = conn(ECHO);
    seti(fd, SOL_SOCKET, SO_RCVLOWAT, 10, "setsockopt(SO_RCVLOWAT, 10)");
    char buf[64];
    R("recv(MSG_DONTWAIT), nothing come", recv(fd, buf, sizeof buf, MSG_DONTWAIT));
    R("send 3 bytes", send(fd, "abc", 3, 0));
    usleep(200000);
    long n = R("recv(MSG_DONTWAIT|MSG_PEEK) below the mark", recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK));
    line("  peeked", "\"%s\"", show(buf, n));
    n = R("recv(MSG_DONTWAIT) 2 bytes below the mark", recv(fd, buf, 2, MSG_DONTWAIT));
    line("  got", "\"%s\"", show(buf, n));
    n = R("recv(MSG_DONTWAIT) the rest", recv(fd, buf, sizeof buf, MSG_DONTWAIT));
    line("  got", "\"%s\"", show(buf, n));
    R("recv(MSG_DONTWAIT) again", recv(fd, buf, sizeof buf, MSG_DONTWAIT));
    R("send 4 bytes", send(fd, "defg", 4, 0));
    usleep(200000);
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    n = R("O_NONBLOCK read below the mark", read(fd, buf, sizeof buf));
    line("  got", "\"%s\"", show(buf, n));
    fcntl(fd, F_SETFL, fl);
    R("send 2 bytes", send(fd, "hi", 2, 0));
    struct timeval tv = {0, 300000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    n = R("blocking recv below the mark, SO_RCVTIMEO 0.3 s", recv(fd, buf, sizeof buf, 0));
    line("  got", "\"%s\"", show(buf, n));
    R("send 12 bytes", send(fd, "0123456789ab", 12, 0));
    n = R("blocking recv, the mark reached", recv(fd, buf, sizeof buf, 0));
    line("  got", "\"%s\"", show(buf, n));
    close(fd);
}

/* A connect repeated after a non-blocking connect's handshake has ended (Linux's
 * __inet_stream_connect: the socket is SS_CONNECTING until a connect finds it established, which
 * returns 0 whatever address it names and makes it SS_CONNECTED; only the next says EISCONN). A
 * blocking connect that succeeded leaves it SS_CONNECTED at once. The stack said EISCONN at once. */
static void c_connect_done(void) {
    struct sockaddr_in a = kaddr(ECHO), other = kaddr(SENDER);
    for (int elsewhere = 0; elsewhere < 2; elsewhere++) {
        int fd = tcp();
        fcntl(fd, F_SETFL, O_NONBLOCK);
        R(elsewhere ? "nonblocking connect (then elsewhere)" : "nonblocking connect", connect(fd, SA(a), sizeof a));
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        line("  poll", "%d", poll(&p, 1, 5000));
        if (elsewhere)
            R("  connect elsewhere once established", connect(fd, SA(other), sizeof other));
        else
            R("  connect again once established", connect(fd, SA(a), sizeof a));
        R("  and again", connect(fd, SA(a), sizeof a));
        R("  send", send(fd, "x", 1, 0));
        close(fd);
    }
    int fd = tcp();
    R("blocking connect", connect(fd, SA(a), sizeof a));
    R("  connect again", connect(fd, SA(a), sizeof a));
    close(fd);
}

/* Options Linux keeps on the socket and the stack takes without acting on them: read back as set
 * (the stack took them and read them as ENOPROTOOPT, SO_PRIORITY as 0), an accepted connection
 * taking its listener's; SO_PEERNAME (ENOTCONN unconnected, EINVAL for a buffer longer than the
 * address) and SO_PEERCRED, which an inet socket answers without credentials. */
static void kept_options(int fd, const char *what) {
    line(what, "");
    struct { int level, opt, v; const char *name; } o[] = {
        {SOL_SOCKET, SO_PRIORITY, 5, "SO_PRIORITY"}, {SOL_SOCKET, SO_MARK, 7, "SO_MARK"},
        {SOL_SOCKET, SO_BUSY_POLL, 9, "SO_BUSY_POLL"}, {SOL_SOCKET, SO_DONTROUTE, 1, "SO_DONTROUTE"},
        {IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, "IP_MTU_DISCOVER"}, {IPPROTO_IP, IP_FREEBIND, 2, "IP_FREEBIND"},
        {IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1, "IP_BIND_ADDRESS_NO_PORT"},
    };
    for (size_t i = 0; i < sizeof o / sizeof o[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "  %s", o[i].name);
        geti(fd, o[i].level, o[i].opt, name);
        R("    set", setsockopt(fd, o[i].level, o[i].opt, &o[i].v, sizeof o[i].v));
        geti(fd, o[i].level, o[i].opt, "    then");
    }
    int bad = 9, cpu = 1;
    R("  IP_MTU_DISCOVER 9", setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &bad, sizeof bad));
    R("  SO_INCOMING_CPU 1", setsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, sizeof cpu));
    geti(fd, SOL_SOCKET, SO_INCOMING_CPU, "    then");
    struct sockaddr_storage ss;
    socklen_t len = sizeof(struct sockaddr_in);
    memset(&ss, 0, sizeof ss);
    int r = getsockopt(fd, SOL_SOCKET, SO_PEERNAME, &ss, &len);
    if (r < 0)
        line("  SO_PEERNAME", "%d %s", r, ename(errno));
    else
        line("  SO_PEERNAME", "len %u port %d", len, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    len = sizeof ss;
    R("  SO_PEERNAME, a long buffer", getsockopt(fd, SOL_SOCKET, SO_PEERNAME, &ss, &len));
    struct ucred cred;
    len = sizeof cred;
    r = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    if (r < 0)
        line("  SO_PEERCRED", "%d %s", r, ename(errno));
    else
        line("  SO_PEERCRED", "len %u pid %d uid %d gid %d", len, cred.pid, (int)cred.uid, (int)cred.gid);
}

static void c_kept_options(void) {
    kept_options(conn(ECHO), "connected TCP");
    int u = udp();
    struct sockaddr_in a = kaddr(ECHO);
    kept_options(u, "UDP");
    geti(udp(), SOL_SOCKET, SO_INCOMING_CPU, "fresh UDP SO_INCOMING_CPU");
    connect(u, SA(a), sizeof a);
    kept_options(u, "connected UDP");
    int lfd = listener();
    int mark = 11, prio = 4;
    setsockopt(lfd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
    setsockopt(lfd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof prio);
    pending(lfd);
    int fd = accept(lfd, NULL, NULL);
    geti(fd, SOL_SOCKET, SO_MARK, "accepted: SO_MARK");
    geti(fd, SOL_SOCKET, SO_PRIORITY, "accepted: SO_PRIORITY");
}

/* The queue-size ioctls as Linux's tcp_ioctl answers them: EINVAL on a listener (SIOCINQ,
 * SIOCOUTQ, SIOCOUTQNSD), 0 while the handshake is on, and SIOCOUTQNSD counting what is not yet
 * sent (at most SIOCOUTQ, which counts what is not yet acknowledged) to a peer that reads nothing;
 * SIOCATMARK on UDP, which udp_ioctl does not know: ENOTTY. */
static int ioctl_int(int fd, unsigned long req, const char *what) {
    int v = -1;
    int r = (int)R(what, ioctl(fd, req, &v));
    return r < 0 ? r : v;
}

static void c_queue_ioctls(void) {
    int l = listener();
    ioctl_int(l, SIOCINQ, "listener: SIOCINQ");
    ioctl_int(l, SIOCOUTQ, "listener: SIOCOUTQ");
    ioctl_int(l, SIOCOUTQNSD, "listener: SIOCOUTQNSD");
    int c = tcp();
    fcntl(c, F_SETFL, O_NONBLOCK);
    struct sockaddr_in none = addr_of("10.77.0.5", ECHO);
    connect(c, SA(none), sizeof none);
    line("connecting: SIOCOUTQ", "%d", ioctl_int(c, SIOCOUTQ, "connecting: ioctl(SIOCOUTQ)"));
    line("connecting: SIOCOUTQNSD", "%d", ioctl_int(c, SIOCOUTQNSD, "connecting: ioctl(SIOCOUTQNSD)"));
    int fd = conn(SENDER);
    wait_readable(fd);
    line("connected, nothing sent: SIOCOUTQNSD", "%d", ioctl_int(fd, SIOCOUTQNSD, "ioctl(SIOCOUTQNSD)"));
    int h = tcp();
    seti(h, SOL_SOCKET, SO_SNDBUF, 1 << 20, "setsockopt(SO_SNDBUF, 1 MiB)");
    connect_to(h, HOLD);
    long total = 0;
    int stalled = write_until_stalled(h, 5, &total);
    line("to a peer that reads nothing: writes until EAGAIN", "%s", stalled ? "stalled" : "never stalled");
    int nsd = -1;
    ioctl(h, SIOCOUTQNSD, &nsd);
    int q = outq(h);
    fprintf(stderr, "queue_ioctls: wrote %ld, SIOCOUTQ %d, SIOCOUTQNSD %d\n", total, q, nsd);
    line("  then 0 < SIOCOUTQNSD <= SIOCOUTQ", "%s", nsd > 0 && nsd <= q ? "yes" : "no");
    close(conn(RELEASE));
    close(h);
    int u = udp();
    struct sockaddr_in any = {.sin_family = AF_INET};
    need(bind(u, SA(any), sizeof any) == 0, "bind udp");
    ioctl_int(u, SIOCATMARK, "bound udp: SIOCATMARK");
}

/* writev and readv past IOV_MAX: EINVAL (import_iovec), where sendmsg and recvmsg say EMSGSIZE. */
static void c_iov_max(void) {
    static char blob[IOV_MAX + 1];
    static struct iovec iov[IOV_MAX + 1];
    for (int i = 0; i <= IOV_MAX; i++) iov[i] = (struct iovec){blob + i, 1};
    int fd = conn(ECHO);
    R("tcp: writev(IOV_MAX + 1)", writev(fd, iov, IOV_MAX + 1));
    R("tcp: readv(IOV_MAX + 1)", readv(fd, iov, IOV_MAX + 1));
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = IOV_MAX + 1};
    R("tcp: sendmsg(IOV_MAX + 1)", sendmsg(fd, &m, 0));
    R("tcp: writev(IOV_MAX)", writev(fd, iov, IOV_MAX));
    int u = udp();
    struct sockaddr_in a = kaddr(ECHO);
    need(connect(u, SA(a), sizeof a) == 0, "connect udp");
    R("udp: writev(IOV_MAX + 1)", writev(u, iov, IOV_MAX + 1));
    R("udp: readv(IOV_MAX + 1)", readv(u, iov, IOV_MAX + 1));
    R("udp: sendmsg(IOV_MAX + 1)", sendmsg(u, &m, 0));
}

/* A socket whose connection has ended (both FINs, the peer's last: TIME-WAIT). Linux's
 * tcp_time_wait leaves the socket itself in TCP_CLOSE (TCP_INFO state 7); a socket a connect
 * reported connected is SS_CONNECTED for good, so connect says EISCONN and listen EINVAL
 * (inet_listen); a non-blocking connect's socket is SS_CONNECTING until a connect reports it or
 * a shutdown finds it established (inet_shutdown), and such a connect reports it connected. */
static int info_state(int fd) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ? -1 : ti.tcpi_state;
}

static void c_ended(void) {
    struct sockaddr_in a = kaddr(ECHO);
    int fd = conn(ECHO);
    R("shutdown(SHUT_WR)", shutdown(fd, SHUT_WR));
    char b[8];
    R("  recv (the echo closes)", recv(fd, b, sizeof b, 0));
    usleep(200000);
    line("  TCP_INFO state", "%d", info_state(fd));
    R("  connect again", connect(fd, SA(a), sizeof a));
    R("  listen", listen(fd, 1));
    int nb = tcp();
    fcntl(nb, F_SETFL, O_NONBLOCK);
    R("nonblocking connect", connect(nb, SA(a), sizeof a));
    struct pollfd p = {.fd = nb, .events = POLLOUT};
    line("  poll", "%d", poll(&p, 1, 5000));
    R("  shutdown(SHUT_WR)", shutdown(nb, SHUT_WR));
    p.events = POLLIN;
    line("  poll (the echo closes)", "%d", poll(&p, 1, 5000));
    usleep(200000);
    line("  TCP_INFO state", "%d", info_state(nb));
    R("  connect again", connect(nb, SA(a), sizeof a));
    R("  listen", listen(nb, 1));
    /* Never reported, and the peer's FIN in (CLOSE-WAIT): connect reports it connected, once. */
    struct sockaddr_in cb = kaddr(CALLBACK);
    int w = tcp();
    fcntl(w, F_SETFL, O_NONBLOCK);
    R("nonblocking connect (the peer closes)", connect(w, SA(cb), sizeof cb));
    p = (struct pollfd){.fd = w, .events = POLLOUT};
    line("  poll", "%d", poll(&p, 1, 5000));
    R("  send(\"0\\n\")", send(w, "0\n", 2, 0));
    p.events = POLLIN;
    line("  poll (the peer closes)", "%d", poll(&p, 1, 5000));
    R("  recv", recv(w, b, sizeof b, 0));
    R("  connect again", connect(w, SA(cb), sizeof cb));
    R("  and again", connect(w, SA(cb), sizeof cb));
}

/* SO_PEEK_OFF on TCP (Linux 6.9's tcp_recvmsg): a MSG_PEEK reads from the offset and moves it on
 * by what it copied, a read moves it back by what it took; negative turns it off (-1 is off).
 * Set before connect, it holds once connected; a listener takes it too. */
static void peek_show(int fd, size_t n, int flags, const char *what) {
    char b[32];
    long got = recv(fd, b, n, flags);
    line(what, "%ld %s", got, got < 0 ? ename(errno) : show(b, got));
}

static void c_peek_off(void) {
    int fd = conn(SENDER);
    wait_readable(fd);
    geti(fd, SOL_SOCKET, SO_PEEK_OFF, "getsockopt(SO_PEEK_OFF) unset");
    seti(fd, SOL_SOCKET, SO_PEEK_OFF, 0, "setsockopt(SO_PEEK_OFF, 0)");
    peek_show(fd, 5, MSG_PEEK, "recv(5, MSG_PEEK)");
    peek_show(fd, 5, MSG_PEEK, "recv(5, MSG_PEEK) again");
    geti(fd, SOL_SOCKET, SO_PEEK_OFF, "  SO_PEEK_OFF");
    peek_show(fd, 3, 0, "recv(3)");
    geti(fd, SOL_SOCKET, SO_PEEK_OFF, "  SO_PEEK_OFF");
    peek_show(fd, 4, MSG_PEEK | MSG_DONTWAIT, "recv(4, MSG_PEEK|MSG_DONTWAIT)");
    peek_show(fd, 20, MSG_PEEK | MSG_DONTWAIT, "recv(20, MSG_PEEK|MSG_DONTWAIT) past the end");
    seti(fd, SOL_SOCKET, SO_PEEK_OFF, -5, "setsockopt(SO_PEEK_OFF, -5)");
    geti(fd, SOL_SOCKET, SO_PEEK_OFF, "  SO_PEEK_OFF");
    peek_show(fd, 4, MSG_PEEK, "recv(4, MSG_PEEK)");
    int early = tcp();
    seti(early, SOL_SOCKET, SO_PEEK_OFF, 4, "before connect: setsockopt(SO_PEEK_OFF, 4)");
    connect_to(early, SENDER);
    wait_readable(early);
    geti(early, SOL_SOCKET, SO_PEEK_OFF, "  connected: SO_PEEK_OFF");
    peek_show(early, 6, MSG_PEEK, "  recv(6, MSG_PEEK)");
    int l = listener();
    seti(l, SOL_SOCKET, SO_PEEK_OFF, 2, "listener: setsockopt(SO_PEEK_OFF, 2)");
    geti(l, SOL_SOCKET, SO_PEEK_OFF, "  SO_PEEK_OFF");
    pending(l);
    int a = RFD("  accept", accept(l, NULL, NULL));
    geti(a, SOL_SOCKET, SO_PEEK_OFF, "  accepted: SO_PEEK_OFF");
    geti(l, SOL_SOCKET, SO_PEEK_OFF, "  listener after: SO_PEEK_OFF");
}

/* Options Linux takes on any TCP or UDP socket with nothing for the stack to do but remember them:
 * SO_DEBUG (a flag its TCP no longer reads, which an accepted socket takes from its listener),
 * SO_BSDCOMPAT and TCP_THIN_DUPACK (taken and ignored: read back 0), set on a socket before and
 * after it connects. */
static void flag_opts(int fd, const char *what) {
    seti(fd, SOL_SOCKET, SO_DEBUG, 1, N("%s: setsockopt(SO_DEBUG, 1)", what));
    geti(fd, SOL_SOCKET, SO_DEBUG, "  SO_DEBUG");
    seti(fd, SOL_SOCKET, SO_BSDCOMPAT, 1, N("%s: setsockopt(SO_BSDCOMPAT, 1)", what));
    geti(fd, SOL_SOCKET, SO_BSDCOMPAT, "  SO_BSDCOMPAT");
    seti(fd, IPPROTO_TCP, TCP_THIN_DUPACK, 1, N("%s: setsockopt(TCP_THIN_DUPACK, 1)", what));
    geti(fd, IPPROTO_TCP, TCP_THIN_DUPACK, "  TCP_THIN_DUPACK");
}

static void c_flag_options(void) {
    int fd = conn(ECHO);
    flag_opts(fd, "connected");
    seti(fd, SOL_SOCKET, SO_DEBUG, 0, "connected: setsockopt(SO_DEBUG, 0)");
    geti(fd, SOL_SOCKET, SO_DEBUG, "  SO_DEBUG");
    int early = tcp();
    flag_opts(early, "before connect");
    connect_to(early, ECHO);
    geti(early, SOL_SOCKET, SO_DEBUG, "  connected: SO_DEBUG");
    int l = listener();
    flag_opts(l, "listener");
    pending(l);
    int a = RFD("  accept", accept(l, NULL, NULL));
    geti(a, SOL_SOCKET, SO_DEBUG, "  accepted: SO_DEBUG");
    int u = udp();
    struct sockaddr_in k = kaddr(ECHO);
    need(connect(u, SA(k), sizeof k) == 0, "connect udp");
    flag_opts(u, "connected udp");
}

/* TCP bound to a broadcast or multicast address: Linux's inet_bind takes both
 * (inet_addr_valid_or_nonlocal) and leaves the source to the device, so a connect goes out from
 * the interface's own address; a listener takes the address too. */
static void c_bind_cast(void) {
    const char *ips[] = {"224.0.0.5", "10.77.0.255", "255.255.255.255"};
    for (int i = 0; i < 3; i++) {
        int t = tcp();
        struct sockaddr_in a = addr_of(ips[i], 0);
        R(N("tcp: bind(%s:0)", ips[i]), bind(t, SA(a), sizeof a));
        struct sockaddr_in k = kaddr(ECHO);
        R("  connect", connect(t, SA(k), sizeof k));
        struct sockaddr_in g;
        socklen_t gl = sizeof g;
        getsockname(t, SA(g), &gl);
        line("  getsockname", "%s", inet_ntoa(g.sin_addr));
        int l = tcp();
        a.sin_port = htons(LISTEN_BASE + checkno + i);
        R(N("tcp: bind(%s:%d)", ips[i], LISTEN_BASE + checkno + i), bind(l, SA(a), sizeof a));
        R("  listen", listen(l, 1));
    }
}

/* Control messages on a TCP sendmsg, as tcp_sendmsg takes them (sock_cmsg_send): other levels
 * passed over, SOL_SOCKET's SCM_RIGHTS and SCM_CREDENTIALS passed over too (no descriptor is
 * looked at), SO_MARK and SO_PRIORITY taken, any other SOL_SOCKET type EINVAL, a message longer
 * than the buffer or shorter than its header EINVAL; what was sent, echoed. */
static long tcp_cmsg(int fd, int level, int type, const void *data, size_t len, size_t cmsg_len) {
    union {
        char buf[CMSG_SPACE(64)];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iv = {"m", 1};
    struct msghdr m = {.msg_iov = &iv, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = CMSG_SPACE(len)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = cmsg_len ? cmsg_len : CMSG_LEN(len);
    memcpy(CMSG_DATA(c), data, len);
    return sendmsg(fd, &m, 0);
}

static void c_tcp_cmsg(void) {
    int fd = conn(ECHO);
    int one = 1, bad = 9999;
    struct ucred cr = {getpid(), getuid(), getgid()}, other = {1, 1, 1};
    R("sendmsg with IP_TOS", tcp_cmsg(fd, IPPROTO_IP, IP_TOS, &one, sizeof one, 0));
    R("sendmsg with SCM_RIGHTS", tcp_cmsg(fd, SOL_SOCKET, SCM_RIGHTS, &one, sizeof one, 0));
    R("sendmsg with SCM_RIGHTS of no descriptor", tcp_cmsg(fd, SOL_SOCKET, SCM_RIGHTS, &bad, sizeof bad, 0));
    R("sendmsg with SCM_CREDENTIALS", tcp_cmsg(fd, SOL_SOCKET, SCM_CREDENTIALS, &cr, sizeof cr, 0));
    R("sendmsg with SCM_CREDENTIALS of another", tcp_cmsg(fd, SOL_SOCKET, SCM_CREDENTIALS, &other, sizeof other, 0));
    R("sendmsg with SO_MARK", tcp_cmsg(fd, SOL_SOCKET, SO_MARK, &one, sizeof one, 0));
    R("sendmsg with SO_PRIORITY", tcp_cmsg(fd, SOL_SOCKET, SO_PRIORITY, &one, sizeof one, 0));
    R("sendmsg with SO_MARK of a byte", tcp_cmsg(fd, SOL_SOCKET, SO_MARK, &one, 1, 0));
    R("sendmsg with SOL_SOCKET type 999", tcp_cmsg(fd, SOL_SOCKET, 999, &one, sizeof one, 0));
    R("sendmsg with level 12345", tcp_cmsg(fd, 12345, 1, &one, sizeof one, 0));
    R("sendmsg with cmsg_len past the buffer", tcp_cmsg(fd, IPPROTO_IP, IP_TOS, &one, sizeof one, 200));
    R("sendmsg with cmsg_len under its header", tcp_cmsg(fd, IPPROTO_IP, IP_TOS, &one, sizeof one, 4));
    char b[32];
    long n = recv_some(fd, b, 8);
    line("the echo", "%ld %s", n, show(b, n));
}

/* IP_BIND_ADDRESS_NO_PORT (Linux's __inet_bind): a bind to port 0 takes the address alone, so
 * getsockname says port 0 and a second bind is still allowed; the port comes with the connect
 * (or the listen) that follows. */
static void no_port_name(int fd, const char *what) {
    struct sockaddr_in g;
    socklen_t gl = sizeof g;
    memset(&g, 0, sizeof g);
    R(what, getsockname(fd, SA(g), &gl));
    line("  name", "%s port>0=%d", inet_ntoa(g.sin_addr), g.sin_port != 0);
}

static void c_bind_no_port(void) {
    struct sockaddr_in me = saddr(0), any = addr_of("0.0.0.0", 0), k = kaddr(ECHO);
    int n = tcp();
    seti(n, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1, "setsockopt(IP_BIND_ADDRESS_NO_PORT, 1)");
    R("bind(10.77.0.2:0)", bind(n, SA(me), sizeof me));
    no_port_name(n, "  getsockname");
    R("  bind(10.77.0.2:0) again", bind(n, SA(me), sizeof me));
    R("  connect", connect(n, SA(k), sizeof k));
    no_port_name(n, "  getsockname");
    R("  bind again once connected", bind(n, SA(me), sizeof me));
    int w = tcp();
    seti(w, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1, "setsockopt(IP_BIND_ADDRESS_NO_PORT, 1)");
    R("bind(0.0.0.0:0)", bind(w, SA(any), sizeof any));
    no_port_name(w, "  getsockname");
    struct sockaddr_in p = saddr(LISTEN_BASE + checkno);
    R("  bind to a port after it", bind(w, SA(p), sizeof p));
    no_port_name(w, "  getsockname");
    int l = tcp();
    seti(l, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1, "setsockopt(IP_BIND_ADDRESS_NO_PORT, 1)");
    R("bind(10.77.0.2:0)", bind(l, SA(me), sizeof me));
    R("  listen", listen(l, 1));
    no_port_name(l, "  getsockname");
    int b = tcp();
    seti(b, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1, "setsockopt(IP_BIND_ADDRESS_NO_PORT, 1)");
    struct sockaddr_in port = saddr(LISTEN_BASE + checkno + 1);
    R("bind(10.77.0.2:port), the option set", bind(b, SA(port), sizeof port));
    no_port_name(b, "  getsockname");
}

/* Edges a review of the queue ioctls, vectored I/O and TCP control messages found: tcp_ioctl's
 * answer goes out by put_user (EFAULT where it cannot be written, any alignment taken);
 * sock_do_ioctl reads a struct ifreq for a socket command the protocol does not know (EFAULT
 * before ENOTTY); vfs_readv and vfs_writev return 0 for vectors of no bytes before the socket
 * sees them (no empty datagram); import_iovec's EINVAL comes before a listener's ENOTCONN;
 * TCP_THIN_DUPACK keeps its range of 0 and 1; __sock_cmsg_send takes SO_TIMESTAMPING holding no
 * flag and refuses one outside the transmit flags. */
static void c_reviewed_edges(void) {
    int fd = conn(ECHO);
    R("ioctl(SIOCOUTQNSD, unwritable)", ioctl(fd, SIOCOUTQNSD, (int *)noaccess));
    R("ioctl(TIOCOUTQ, unwritable)", ioctl(fd, TIOCOUTQ, (int *)noaccess));
    R("ioctl(FIONREAD, unwritable)", ioctl(fd, FIONREAD, (int *)noaccess));
    char raw[2 * sizeof(int)];
    memset(raw, 0x55, sizeof raw);
    R("ioctl(SIOCOUTQNSD, unaligned)", ioctl(fd, SIOCOUTQNSD, (int *)(raw + 1)));
    int v;
    memcpy(&v, raw + 1, sizeof v);
    line("  value", "%d", v);
    int two = 2, minus = -1;
    R("setsockopt(TCP_THIN_DUPACK, 2)", setsockopt(fd, IPPROTO_TCP, TCP_THIN_DUPACK, &two, sizeof two));
    R("setsockopt(TCP_THIN_DUPACK, -1)", setsockopt(fd, IPPROTO_TCP, TCP_THIN_DUPACK, &minus, sizeof minus));
    unsigned none = 0, rx = SOF_TIMESTAMPING_RX_SOFTWARE;
    R("sendmsg with SO_TIMESTAMPING of no flag", tcp_cmsg(fd, SOL_SOCKET, SO_TIMESTAMPING, &none, sizeof none, 0));
    R("sendmsg with SO_TIMESTAMPING of a receive flag", tcp_cmsg(fd, SOL_SOCKET, SO_TIMESTAMPING, &rx, sizeof rx, 0));
    char b[32];
    long n = recv_some(fd, b, 1);
    line("the echo", "%ld %s", n, show(b, n));
    int l = listener();
    static struct iovec many[IOV_MAX + 1];
    for (int i = 0; i <= IOV_MAX; i++) many[i] = (struct iovec){b, 1};
    R("listener: readv(IOV_MAX + 1)", readv(l, many, IOV_MAX + 1));
    /* A receiver on the stack's own address, so each datagram is seen as it comes. */
    int r = udp();
    struct sockaddr_in a = saddr(LISTEN_BASE + checkno);
    need(bind(r, SA(a), sizeof a) == 0, "bind udp");
    int u = udp();
    need(connect(u, SA(a), sizeof a) == 0, "connect udp");
    R("udp: ioctl(SIOCATMARK, NULL)", ioctl(u, SIOCATMARK, NUL));
    struct iovec empty = {b, 0};
    R("udp: writev of no bytes", writev(u, &empty, 1));
    R("udp: writev of no vector", writev(u, &empty, 0));
    R("udp: send(\"x\")", send(u, "x", 1, 0));
    n = recv_some(r, b, sizeof b);
    line("  the first datagram", "%ld %s", n, show(b, n));
    R("udp: send(\"y\")", send(u, "y", 1, 0));
    usleep(100000);
    R("udp: readv of no bytes", readv(r, &empty, 1));
    n = recv(r, b, sizeof b, MSG_DONTWAIT);
    line("  then recv", "%ld %s", n, show(b, n > 0 ? n : 0));
}

/* Zero-length reads and writes on a listener, a socket not connected, a connected one and one
 * shut down: read and readv of nothing return 0 before the protocol is asked (sock_read_iter),
 * recv and recvmsg ask it (tcp_recvmsg: ENOTCONN on a listener or a closed socket), writes ask
 * it always (tcp_sendmsg_locked: sk_stream_wait_connect's EPIPE, with SIGPIPE). */
static void zero_io(int fd, const char *what) {
    char buf[4];
    struct iovec iov = {buf, 0};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    R(N("%s: read(0)", what), read(fd, buf, 0));
    R(N("%s: readv(no iovecs)", what), readv(fd, &iov, 0));
    R(N("%s: readv(one empty iovec)", what), readv(fd, &iov, 1));
    R(N("%s: recv(0)", what), recv(fd, buf, 0, MSG_DONTWAIT));
    R(N("%s: recvfrom(0)", what), recvfrom(fd, buf, 0, MSG_DONTWAIT, NULL, NULL));
    R(N("%s: recvmsg(0)", what), recvmsg(fd, &m, MSG_DONTWAIT));
    R(N("%s: write(0)", what), write(fd, buf, 0));
    R(N("%s: writev(no iovecs)", what), writev(fd, &iov, 0));
    R(N("%s: writev(one empty iovec)", what), writev(fd, &iov, 1));
    R(N("%s: send(0)", what), send(fd, buf, 0, 0));
    R(N("%s: sendto(0)", what), sendto(fd, buf, 0, 0, NULL, 0));
    R(N("%s: send(0, MSG_OOB)", what), send(fd, buf, 0, MSG_OOB));
    R(N("%s: sendmsg(0)", what), sendmsg(fd, &m, 0));
    RX(N("%s: write(0), SIGPIPE not ignored", what), (signal(SIGPIPE, SIG_DFL), write(fd, buf, 0)));
    RX(N("%s: send(0), SIGPIPE not ignored", what), (signal(SIGPIPE, SIG_DFL), send(fd, buf, 0, 0)));
}

static void c_zero_io(void) {
    int l = listener();
    zero_io(l, "listener");
    char c;
    R("listener: read(1) nonblocking", (fcntl(l, F_SETFL, O_NONBLOCK), read(l, &c, 1)));
    R("listener: recv(1, MSG_DONTWAIT)", recv(l, &c, 1, MSG_DONTWAIT));
    close(l);
    int u = tcp();
    zero_io(u, "unconnected");
    close(u);
    int fd = conn(ECHO);
    zero_io(fd, "connected");
    shutdown(fd, SHUT_RD);
    zero_io(fd, "after SHUT_RD");
    shutdown(fd, SHUT_WR);
    zero_io(fd, "after SHUT_RDWR");
    close(fd);
    /* Without SO_SNDTIMEO (a send that may block as long as it must). */
    fd = tcp();
    struct sockaddr_in a = kaddr(ECHO);
    need(connect(fd, SA(a), sizeof a) == 0, "connect to echo");
    zero_io(fd, "no SO_SNDTIMEO, connected");
    shutdown(fd, SHUT_WR);
    zero_io(fd, "no SO_SNDTIMEO, after SHUT_WR");
    close(fd);
}

/* TCP_INFO's segment sizes: tcpi_snd_mss (mss_cache), tcpi_rcv_mss (icsk_ack.rcv_mss: at most
 * TCP_MSS_DEFAULT from the handshake, tcp_initialize_rcv_mss; then what tcp_measure_rcv_mss learns
 * from the segments that arrive) and tcpi_advmss (tp->advmss, less the timestamp option on the
 * side that connected, tcp_rcv_synsent_state_process), on sockets in each state. */
static void mss_line(int fd, const char *what) {
    struct tcp_info ti;
    memset(&ti, 0, sizeof ti);
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) {
        line(what, "-1 %s", ename(errno));
        return;
    }
    line(what, "snd_mss %u rcv_mss %u advmss %u", ti.tcpi_snd_mss, ti.tcpi_rcv_mss, ti.tcpi_advmss);
}

/* Sends n bytes to the echo peer and reads them back. */
static void echo_n(int fd, long n) {
    static char out[100000], in[100000];
    memset(out, 'e', sizeof out);
    long sent = 0;
    while (sent < n) {
        ssize_t k = send(fd, out + sent, (size_t)(n - sent), 0);
        need(k > 0, "send to echo");
        sent += k;
        long got = recv_some(fd, in, k);
        need(got == k, "echo back");
    }
}

static void c_info_mss(void) {
    int u = tcp();
    mss_line(u, "unconnected");
    close(u);
    int l = listener();
    mss_line(l, "listener");
    int fd = conn(ECHO);
    mss_line(fd, "connected");
    echo_n(fd, 20);
    mss_line(fd, "20 bytes echoed");
    echo_n(fd, 1000);
    mss_line(fd, "then 1000");
    echo_n(fd, 600);
    mss_line(fd, "then 600");
    echo_n(fd, 600);
    mss_line(fd, "then 600 again");
    echo_n(fd, 100000);
    mss_line(fd, "then 100000");
    close(fd);
    pending(l);
    int a = accept(l, NULL, NULL);
    need(a >= 0, "accept");
    mss_line(a, "accepted");
    close(a);
    close(l);
}

/* A listener's SO_PEEK_OFF set while an accept waits: accept never moves the listener's offset,
 * and the connection it takes has the listener's as it is then (sk_clone_lock copies
 * sk_peek_off). The listener's unset: the accepted one's is -1. */
static void *peek_off_setter(void *arg) {
    int l = *(int *)arg;
    usleep(300000);
    int v = 7;
    setsockopt(l, SOL_SOCKET, SO_PEEK_OFF, &v, sizeof v);
    int c = conn(CALLBACK);
    dprintf(c, "%d\n", LISTEN_BASE + checkno);
    return (void *)(long)c;
}

static void c_peek_off_listener(void) {
    int l = listener();
    seti(l, SOL_SOCKET, SO_PEEK_OFF, 3, "listener: setsockopt(SO_PEEK_OFF, 3)");
    pthread_t t;
    need(pthread_create(&t, NULL, peek_off_setter, &l) == 0, "pthread_create");
    int a = RFD("  accept, while a thread sets SO_PEEK_OFF 7", accept(l, NULL, NULL));
    pthread_join(t, NULL);
    geti(a, SOL_SOCKET, SO_PEEK_OFF, "  accepted: SO_PEEK_OFF");
    geti(l, SOL_SOCKET, SO_PEEK_OFF, "  listener: SO_PEEK_OFF");
    pending(l);
    a = RFD("  accept", accept(l, NULL, NULL));
    geti(a, SOL_SOCKET, SO_PEEK_OFF, "  accepted: SO_PEEK_OFF");
    geti(l, SOL_SOCKET, SO_PEEK_OFF, "  listener: SO_PEEK_OFF");
    int u = tcp();
    struct sockaddr_in p = saddr(LISTEN_BASE + checkno + 1);
    need(bind(u, SA(p), sizeof p) == 0, "bind");
    seti(u, SOL_SOCKET, SO_PEEK_OFF, 0, "bound: setsockopt(SO_PEEK_OFF, 0)");
    seti(u, SOL_SOCKET, SO_PEEK_OFF, -1, "  setsockopt(SO_PEEK_OFF, -1)");
    R("  listen", listen(u, 4));
    geti(u, SOL_SOCKET, SO_PEEK_OFF, "  listener: SO_PEEK_OFF");
    /* A wildcard listener reached on loopback: the accepted connection has its offset too. */
    int w = tcp();
    struct sockaddr_in any = addr_of("0.0.0.0", LISTEN_BASE + checkno + 2);
    need(bind(w, SA(any), sizeof any) == 0 && listen(w, 4) == 0, "wildcard listener");
    seti(w, SOL_SOCKET, SO_PEEK_OFF, 5, "wildcard listener: setsockopt(SO_PEEK_OFF, 5)");
    int c = tcp();
    struct sockaddr_in lo = addr_of("127.0.0.1", LISTEN_BASE + checkno + 2);
    R("  connect(127.0.0.1)", connect(c, SA(lo), sizeof lo));
    a = RFD("  accept", accept(w, NULL, NULL));
    geti(a, SOL_SOCKET, SO_PEEK_OFF, "  accepted: SO_PEEK_OFF");
    geti(w, SOL_SOCKET, SO_PEEK_OFF, "  listener: SO_PEEK_OFF");
}

/* SO_PEEK_OFF on UDP: Linux's UDP takes it (sk_set_peek_off); the stack refuses it whether the
 * socket has reached it or not (its datagrams carry a header in the socketpair, which an offset
 * would count), as a kernel family without set_peek_off does (EOPNOTSUPP). */
static void c_peek_off_udp(void) {
    int u = udp();
    seti(u, SOL_SOCKET, SO_PEEK_OFF, 0, "udp: setsockopt(SO_PEEK_OFF, 0)");
    geti(u, SOL_SOCKET, SO_PEEK_OFF, "  SO_PEEK_OFF");
    struct sockaddr_in k = kaddr(ECHO);
    need(connect(u, SA(k), sizeof k) == 0, "connect udp");
    seti(u, SOL_SOCKET, SO_PEEK_OFF, 0, "connected udp: setsockopt(SO_PEEK_OFF, 0)");
    geti(u, SOL_SOCKET, SO_PEEK_OFF, "  SO_PEEK_OFF");
}

/* getpeername once the connection has ended (both FINs: TIME-WAIT): Linux's tcp_time_wait leaves
 * the socket in TCP_CLOSE, for which inet_getname says ENOTCONN; getsockname still says the
 * address and port the connection had. */
static void c_ended_peer(void) {
    int fd = conn(ECHO);
    R("shutdown(SHUT_WR)", shutdown(fd, SHUT_WR));
    char b[8];
    R("  recv (the echo closes)", recv(fd, b, sizeof b, 0));
    usleep(200000);
    struct sockaddr_in g;
    socklen_t gl = sizeof g;
    R("  getpeername", getpeername(fd, SA(g), &gl));
    no_port_name(fd, "  getsockname");
}

/* IP_BIND_ADDRESS_NO_PORT on every address a bind takes (__inet_bind skips get_port after
 * inet_addr_valid_or_nonlocal): broadcast, multicast, and with IP_FREEBIND one not ours; one
 * not ours without it is EADDRNOTAVAIL. */
static void c_no_port_cast(void) {
    const char *ips[] = {"10.77.0.255", "255.255.255.255", "224.0.0.5", "10.99.0.1", "10.99.0.1"};
    for (int i = 0; i < 5; i++) {
        int t = tcp();
        seti(t, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1, "setsockopt(IP_BIND_ADDRESS_NO_PORT, 1)");
        if (i == 4)
            seti(t, IPPROTO_IP, IP_FREEBIND, 1, "  setsockopt(IP_FREEBIND, 1)");
        struct sockaddr_in a = addr_of(ips[i], 0);
        R(N("  bind(%s:0)", ips[i]), bind(t, SA(a), sizeof a));
        no_port_name(t, "  getsockname");
    }
}

/* A connect reported in one process makes the socket connected in all that hold it (Linux's
 * SS_CONNECTED is the socket's): a child forked while the handshake went on, connecting once the
 * connection has ended, gets EISCONN, and its descriptor stays the same socket. */
static void c_reported_elsewhere(void) {
    struct sockaddr_in a = kaddr(ECHO);
    int w = tcp();
    fcntl(w, F_SETFL, O_NONBLOCK);
    R("nonblocking connect", connect(w, SA(a), sizeof a));
    struct pollfd p = {.fd = w, .events = POLLOUT};
    line("  poll", "%d", poll(&p, 1, 5000));
    int go[2];
    need(pipe(go) == 0, "pipe");
    fflush(stdout);
    pid_t c = fork();
    need(c >= 0, "fork");
    if (c == 0) {
        alarm(10);
        char x;
        close(go[1]);
        if (read(go[0], &x, 1) != 1)
            _exit(1);
        R("  the child: connect again", connect(w, SA(a), sizeof a));
        R("  the child: and again", connect(w, SA(a), sizeof a));
        fflush(stdout);
        _exit(0);
    }
    close(go[0]);
    sub += 2; /* the child's two lines */
    R("  connect again (reports it connected)", connect(w, SA(a), sizeof a));
    R("  shutdown(SHUT_WR)", shutdown(w, SHUT_WR));
    p.events = POLLIN;
    line("  poll (the echo closes)", "%d", poll(&p, 1, 5000));
    usleep(200000);
    need(write(go[1], "g", 1) == 1, "write");
    int st;
    waitpid(c, &st, 0);
    line("  the child", "exited %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(go[1]);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    char *pages = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(pages != MAP_FAILED, "mmap");
    CHECK(mprotect(pages + 4096, 4096, PROT_NONE) == 0, "mprotect");
    lastpage = pages;
    noaccess = pages + 4096;

    /* Options and calls */
    run("TCP_USER_TIMEOUT", c_user_timeout);
    run("TCP_INQ", c_inq);
    run("TCP_NOTSENT_LOWAT", c_notsent_lowat);
    run("TCP_MAXSEG", c_maxseg);
    run("IP_MTU_DISCOVER optlen", c_optlen_mtu);
    run("SO_KEEPALIVE optlen", c_optlen_keepalive);
    run("TCP_NODELAY optlen", c_optlen_nodelay);
    run("IP_TOS optlen", c_optlen_tos);
    run("getsockopt SO_KEEPALIVE optlen", c_getlen_keepalive);
    run("getsockopt TCP_NODELAY optlen", c_getlen_nodelay);
    run("getsockopt IP_TOS optlen", c_getlen_tos);
    run("getsockopt SO_TYPE optlen", c_getlen_type);
    run("TCP_CONGESTION and TCP_CC_INFO", c_congestion);
    run("SO_ZEROCOPY", c_zerocopy);
    run("SO_TIMESTAMPING", c_timestamping);
    run("TCP_CORK and TCP_QUICKACK", c_cork_quickack);
    run("SO_RCVBUF and SO_SNDBUF", c_bufs);
    run("SO_LINGER", c_linger);
    run("MSG_FASTOPEN", c_fastopen);
    run("splice", c_splice);
    /* Bad arguments */
    run("send NULL", c_null_send);
    run("send straddling", c_straddle_send);
    run("recv NULL", c_null_recv);
    run("recv straddling", c_straddle_recv);
    run("sendmsg/recvmsg", c_msg_hostile);
    run("connect addresses", c_addr_connect);
    run("connect in progress", c_connect_progress);
    run("connection refused", c_refused);
    run("bind addresses", c_addr_bind);
    run("sendto addresses", c_addr_sendto);
    run("accept addresses", c_addr_accept);
    run("getsockname/getpeername", c_names);
    run("bad fd -1", c_badfd_minus1);
    run("bad fd unopened", c_badfd_unopened);
    run("bad fd closed", c_badfd_closed);
    run("bad fd pipe", c_badfd_pipe);
    run("bad fd file", c_badfd_file);
    run("shutdown", c_shutdown);
    run("listen", c_listen);
    run("port sharing", c_port_sharing);
    run("options NULL", c_opt_null);
    run("socket", c_socket);
    run("epoll through a reconnect", c_reconnect_epoll);
    run("SO_BINDTODEVICE", c_bindtodevice);
    run("AF_INET6 carrying IPv4", c_inet6);
    run("AF_INET6 UDP carrying IPv4", c_inet6_udp);
    run("loopback to a wildcard listener", c_loopback);
    run("IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR", c_ip_recv_options);
    run("UDP SO_REUSEADDR and SO_REUSEPORT", c_udp_reuse);
    run("MSG_ERRQUEUE on TCP", c_tcp_errqueue);
    run("loopback after a bind to the wildcard", c_loopback_after_bind);
    run("IPv4 multicast options", c_multicast);
    run("IPv6 hop limits and multicast options", c_inet6_hops);
    run("TCP urgent data (MSG_OOB)", c_urgent);
    run("SO_RCVLOWAT on TCP", c_rcvlowat);
    run("TCP buffer sizes before SO_RCVBUF/SO_SNDBUF", c_bufs_start);
    run("TCP_QUICKACK before listen and connect", c_quickack_listen);
    run("TCP_NOTSENT_LOWAT against a peer that does not read", c_notsent_stall);
    run("SO_RCVLOWAT on TCP, reads that cannot wait", c_rcvlowat_nowait);
    run("connect again once established", c_connect_done);
    run("options kept and read back", c_kept_options);
    run("IPV6_PKTINFO to an IPv4-mapped peer", c_inet6_pktinfo);
    run("shutdown of a socket not connected", c_shutdown_unconnected);
    run("SIOCINQ, SIOCOUTQ, SIOCOUTQNSD, SIOCATMARK", c_queue_ioctls);
    run("writev and readv past IOV_MAX", c_iov_max);
    run("a socket whose connection ended", c_ended);
    run("SO_PEEK_OFF on TCP", c_peek_off);
    run("SO_DEBUG, SO_BSDCOMPAT, TCP_THIN_DUPACK", c_flag_options);
    run("TCP bound to a broadcast or multicast address", c_bind_cast);
    run("control messages on a TCP sendmsg", c_tcp_cmsg);
    run("IP_BIND_ADDRESS_NO_PORT", c_bind_no_port);
    run("edges of the queue ioctls, vectored I/O and TCP control messages", c_reviewed_edges);
    run("zero-length reads and writes on TCP sockets in each state", c_zero_io);
    run("TCP_INFO segment sizes", c_info_mss);
    run("SO_PEEK_OFF on a listener", c_peek_off_listener);
    run("SO_PEEK_OFF on UDP", c_peek_off_udp);
    run("getpeername once the connection ended", c_ended_peer);
    run("IP_BIND_ADDRESS_NO_PORT on broadcast, multicast, IP_FREEBIND", c_no_port_cast);
    run("a connect reported in another process", c_reported_elsewhere);
    printf("done: %d checks\n", checkno);
    return 0;
}
