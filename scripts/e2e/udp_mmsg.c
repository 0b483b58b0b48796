/* UDP datagrams sent and received with syscall(SYS_sendmmsg) and syscall(SYS_recvmmsg), as libuv
 * does (and with it dig, host, nslookup and node's dgram), past libc's wrappers: a connected socket
 * sends two datagrams in one call to the kernel-side echo peer, and takes both echoes in one call.
 * Usage: udp_mmsg HOST PORT. Prints "PASS mmsg" or FAIL lines. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &to.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("FAIL socket/connect"); return 1; }

    char a[] = "first datagram", b[] = "second, longer datagram";
    struct iovec out[2] = {{a, strlen(a)}, {b, strlen(b)}};
    struct mmsghdr sm[2];
    memset(sm, 0, sizeof sm);
    for (int i = 0; i < 2; i++) { sm[i].msg_hdr.msg_iov = &out[i]; sm[i].msg_hdr.msg_iovlen = 1; }
    long n = syscall(SYS_sendmmsg, fd, sm, 2, 0);
    if (n != 2 || sm[0].msg_len != strlen(a) || sm[1].msg_len != strlen(b)) {
        printf("FAIL sendmmsg: %ld (%s), lengths %u %u\n", n, strerror(errno), sm[0].msg_len, sm[1].msg_len);
        return 1;
    }

    char in[2][64];
    struct iovec iv[2] = {{in[0], sizeof in[0]}, {in[1], sizeof in[1]}};
    struct sockaddr_in from[2];
    struct mmsghdr rm[2];
    int got = 0;
    for (int tries = 0; got < 2 && tries < 20; tries++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 250) <= 0) continue;
        memset(rm, 0, sizeof rm);
        for (int i = got; i < 2; i++) {
            rm[i].msg_hdr.msg_iov = &iv[i]; rm[i].msg_hdr.msg_iovlen = 1;
            rm[i].msg_hdr.msg_name = &from[i]; rm[i].msg_hdr.msg_namelen = sizeof from[i];
        }
        n = syscall(SYS_recvmmsg, fd, rm + got, 2 - got, MSG_DONTWAIT, NULL);
        if (n < 0) { printf("FAIL recvmmsg: %s\n", strerror(errno)); return 1; }
        for (int i = got; i < got + n; i++) {
            const char *want = i == 0 ? a : b;
            if (rm[i].msg_len != strlen(want) || memcmp(in[i], want, strlen(want)) != 0) {
                printf("FAIL datagram %d: %u bytes, '%.*s'\n", i, rm[i].msg_len, (int)rm[i].msg_len, in[i]);
                return 1;
            }
            if (rm[i].msg_hdr.msg_namelen != sizeof from[i] || from[i].sin_addr.s_addr != to.sin_addr.s_addr ||
                from[i].sin_port != to.sin_port) {
                printf("FAIL datagram %d: from %s:%d (namelen %u)\n", i, inet_ntoa(from[i].sin_addr),
                       ntohs(from[i].sin_port), rm[i].msg_hdr.msg_namelen);
                return 1;
            }
        }
        got += n;
    }
    if (got != 2) { printf("FAIL only %d echoes came back\n", got); return 1; }
    puts("PASS mmsg");
    return 0;
}
