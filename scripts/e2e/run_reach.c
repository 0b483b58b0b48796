/* The program t_run_static.sh builds statically, dynamically and as a fake Go binary: it creates the
 * file MARKER (so the test knows it ran), sends "GET /page" to ADDRESS:8080 over TCP and prints the
 * response's status line. Usage: run_reach ADDRESS MARKER. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: run_reach ADDRESS MARKER\n");
        return 2;
    }
    int m = open(argv[2], O_WRONLY | O_CREAT, 0644);
    if (m < 0) { perror("marker"); return 1; }
    close(m);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080)};
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
    const char *req = "GET /page HTTP/1.0\r\n\r\n";
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) { perror("write"); return 1; }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0) { perror("read"); return 1; }
    buf[n] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    printf("%s\n", buf);
    close(fd);
    return 0;
}
