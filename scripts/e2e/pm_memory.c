/* Out of memory, run by t_memory.sh under the preload (and on the kernel with E2E_KERNEL=1).
 *
 * `pm_memory self KERNEL_IP`: the program exhausts its own memory. With a connection to the
 * kernel-side echo peer (pm_peer.py, port 9000), it lowers RLIMIT_AS to a little above what it
 * uses and allocates until malloc fails. Then, with no memory left: 200 echo round trips on the
 * connection it has (they work on the kernel, whose sockets hold no memory of the program's; the
 * stack's must work too), and a new socket(), which the kernel makes and the stack may refuse with
 * ENOMEM (it would hold memory in this process), never aborting. Everything freed and the limit
 * raised again, a new socket connects and echoes. Prints "PASS self" at the end.
 *
 * `pm_memory service KERNEL_IP BLOBFILE MAX`: the stack's service runs short of memory (the
 * script limits its address space once this prints READY and creates the file GO). Connections
 * to the peer's "give" port (9002, the blob then a close) are opened one by one, none read, until
 * a connect fails (ENOMEM from a stack short of memory) or MAX are open. Then 128 KiB go through the
 * echo connection (its send buffer cannot grow: they move as acknowledgements make room), every connection is
 * read to its end and compared with the blob (exact), and closed; then a new connection gets the
 * blob whole. Prints "REFUSED after N: ERRNO" or "NEVER REFUSED after N", then "PASS service". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check.h"

static const char *ip;

static int connect_to(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = addr_of(ip, port);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    struct timeval tv = {20, 0};
    CHECK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
    return s;
}

/* One round trip of `msg` through the echo peer; 0 when it came back whole. */
static int echo(int s, const char *msg) {
    size_t n = strlen(msg);
    if (write(s, msg, n) != (ssize_t)n)
        return -1;
    char buf[128];
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(s, buf + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return memcmp(buf, msg, n) == 0 ? 0 : -1;
}

/* The address space in use now, from /proc/self/statm (pages). */
static size_t vm_size(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL, "open statm");
    unsigned long pages = 0;
    CHECK(fscanf(f, "%lu", &pages) == 1, "read statm");
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

#define MAX_BLOCKS 200000
static void *blocks[MAX_BLOCKS];

static int self_test(void) {
    int c = connect_to(9000);
    CHECK(c >= 0, "connect to the echo peer");
    CHECK(echo(c, "before") == 0, "echo before");

    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_AS, &old) == 0, "getrlimit");
    lim = old;
    lim.rlim_cur = vm_size() + (4 << 20);
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit");
    /* Allocate until nothing more comes, large blocks then small. */
    size_t n = 0, bytes = 0;
    static const size_t sizes[] = {1 << 20, 64 << 10, 4096, 256, 32};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        while (n < MAX_BLOCKS) {
            void *p = malloc(sizes[k]);
            if (p == NULL)
                break;
            memset(p, 1, sizes[k]);
            blocks[n++] = p;
            bytes += sizes[k];
        }
    }
    CHECK(n < MAX_BLOCKS, "malloc never failed");
    CHECK(malloc(32) == NULL, "memory left after exhausting it");
    printf("exhausted: %zu blocks, %zu bytes\n", n, bytes);

    /* No memory: the connection it has goes on, with plain and gathered writes. */
    int ok = 0;
    for (int i = 0; i < 200; i++)
        ok += echo(c, "during the shortage") == 0;
    int gathered = 0;
    for (int i = 0; i < 50; i++) {
        struct iovec iov[3] = {{"gath", 4}, {"ered ", 5}, {"write", 5}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
        char back[14];
        size_t got = 0;
        if (sendmsg(c, &m, 0) != 14)
            continue;
        while (got < 14) {
            ssize_t r = read(c, back + got, 14 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        gathered += got == 14 && memcmp(back, "gathered write", 14) == 0;
    }
    /* A name lookup: answered, or EAI_SYSTEM with errno ENOMEM (glibc's answer when it cannot
     * allocate). */
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo("localhost", "9000", &hints, &res);
    int gai_errno = errno;
    if (gai == 0)
        freeaddrinfo(res);
    /* New sockets: made (the kernel's) or ENOMEM (the stack's, short of memory), never an abort. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int socket_errno = s < 0 ? errno : 0;
    int more[3], more_errno[3];
    for (int i = 0; i < 3; i++) {
        more[i] = socket(AF_INET, SOCK_DGRAM, 0);
        more_errno[i] = more[i] < 0 ? errno : 0;
    }

    /* Memory back. */
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    CHECK(setrlimit(RLIMIT_AS, &old) == 0, "setrlimit back");
    printf("echoes during the shortage: %d of 200, gathered writes %d of 50\n", ok, gathered);
    printf("getaddrinfo during the shortage: %s %s\n", gai == 0 ? "answered" : gai_strerror(gai),
           gai == EAI_SYSTEM ? strerrorname_np(gai_errno) : "");
    CHECK(gai == 0 || (gai == EAI_SYSTEM && gai_errno == ENOMEM), "getaddrinfo gave %d", gai);
    for (int i = 0; i < 3; i++) {
        printf("udp socket %d during the shortage: %s\n", i,
               more[i] >= 0 ? "made" : strerrorname_np(more_errno[i]));
        CHECK(more[i] >= 0 || more_errno[i] == ENOMEM, "socket failed with %d", more_errno[i]);
        if (more[i] >= 0)
            close(more[i]);
    }
    if (s >= 0) {
        printf("socket during the shortage: made\n");
        close(s);
    } else {
        printf("socket during the shortage: %s\n", strerrorname_np(socket_errno));
        CHECK(socket_errno == ENOMEM, "socket failed with %d, not ENOMEM", socket_errno);
    }
    CHECK(ok == 200 && gathered == 50, "echoes failed while short of memory");
    CHECK(echo(c, "after") == 0, "echo after");
    int d = connect_to(9000);
    CHECK(d >= 0, "a new connection once memory is back");
    CHECK(echo(d, "new") == 0, "echo on the new connection");
    close(d);
    close(c);
    printf("PASS self\n");
    return 0;
}

#define MAX_CONNS 400

/* Reads connection `s` to its end and compares it with the blob; returns the bytes read. */
static size_t read_exact(int s, const unsigned char *blob, size_t blob_len) {
    static unsigned char buf[1 << 16];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(s, buf, sizeof buf);
        CHECK(r >= 0, "read after %zu bytes", got);
        if (r == 0)
            break;
        CHECK(got + (size_t)r <= blob_len, "more than the blob");
        CHECK(memcmp(buf, blob + got, (size_t)r) == 0, "bytes differ near %zu", got);
        got += (size_t)r;
    }
    return got;
}

static int service_test(const char *blobfile, int max) {
    int fd = open(blobfile, O_RDONLY);
    CHECK(fd >= 0, "open the blob");
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "stat the blob");
    size_t blob_len = (size_t)st.st_size;
    unsigned char *blob = malloc(blob_len);
    CHECK(blob != NULL && read(fd, blob, blob_len) == (ssize_t)blob_len, "read the blob");
    close(fd);

    /* The service is started by the first connection; then the script limits it. */
    int c = connect_to(9000);
    CHECK(c >= 0, "connect to the echo peer");
    CHECK(echo(c, "before") == 0, "echo before");
    printf("READY\n");
    fflush(stdout);
    for (int i = 0; i < 300 && access("GO", F_OK) != 0; i++)
        usleep(100000);
    CHECK(access("GO", F_OK) == 0, "no GO from the script");

    static int conns[MAX_CONNS];
    int n = 0, refused = 0;
    if (max > MAX_CONNS)
        max = MAX_CONNS;
    while (n < max) {
        int s = connect_to(9002);
        if (s < 0) {
            refused = errno;
            break;
        }
        conns[n++] = s;
        usleep(20000); /* its data fills what the stack holds for it */
    }
    if (refused)
        printf("REFUSED after %d: %s\n", n, strerrorname_np(refused));
    else
        printf("NEVER REFUSED after %d\n", n);
    fflush(stdout);
    CHECK(echo(c, "during") == 0, "echo while the service is short of memory");
    /* Writes through a service short of memory: its send buffer cannot grow, so the data moves
     * in what the buffer holds, as acknowledgements make room. */
    double t0 = now_s();
    static char chunk[16384], back[16384];
    for (int k = 0; k < 8; k++) {
        for (size_t j = 0; j < sizeof chunk; j++)
            chunk[j] = (char)('a' + (j * 7 + (size_t)k) % 26);
        CHECK(write(c, chunk, sizeof chunk) == (ssize_t)sizeof chunk, "write chunk %d", k);
        size_t got = 0;
        while (got < sizeof back) {
            ssize_t r = read(c, back + got, sizeof back - got);
            CHECK(r > 0, "read the echo of chunk %d", k);
            got += (size_t)r;
        }
        CHECK(memcmp(chunk, back, sizeof chunk) == 0, "echo of chunk %d differs", k);
    }
    printf("128 KiB echoed exact while short of memory in %.2f s\n", now_s() - t0);
    for (int i = 0; i < n; i++) {
        size_t got = read_exact(conns[i], blob, blob_len);
        CHECK(got == blob_len, "connection %d ended after %zu of %zu bytes", i, got, blob_len);
        close(conns[i]);
    }
    printf("all %d connections exact\n", n);
    int s = -1;
    for (int i = 0; i < 50 && s < 0; i++) {
        s = connect_to(9002);
        if (s < 0)
            usleep(100000);
    }
    CHECK(s >= 0, "a new connection once memory is back");
    CHECK(read_exact(s, blob, blob_len) == blob_len, "the new connection's blob");
    close(s);
    CHECK(echo(c, "after") == 0, "echo after");
    close(c);
    printf("PASS service\n");
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK(argc >= 3, "usage: pm_memory self|service KERNEL_IP [BLOBFILE MAX]");
    ip = argv[2];
    if (strcmp(argv[1], "self") == 0)
        return self_test();
    CHECK(argc == 5, "usage: pm_memory service KERNEL_IP BLOBFILE MAX");
    return service_test(argv[3], atoi(argv[4]));
}
