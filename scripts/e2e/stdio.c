/* stdio streams over a stack socket, run under the preload by t_stdio.sh: fdopen on a connection to
 * the kernel-side echo, lines written with fprintf and read back with fgets, fclose; the number the
 * socket had then serves a file opened next (fclose let the socket go). Prints "PASS stdio" at the end; exits non-zero on the first failure. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static FILE *connect_stream(const char *mode, int *fd) {
    struct sockaddr_in a = addr_of("10.77.0.1", 7300);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(*fd >= 0, "socket");
    CHECK(connect(*fd, (struct sockaddr *)&a, sizeof a) == 0, "connect");
    FILE *f = fdopen(*fd, mode);
    CHECK(f != NULL, "fdopen %s", mode);
    return f;
}

int main(void) {
    int fd;
    FILE *f = connect_stream("r+", &fd);
    for (int i = 0; i < 1000; i++) CHECK(fprintf(f, "line %d of the stream\n", i) > 0, "fprintf");
    CHECK(fflush(f) == 0, "fflush");
    char line[64], want[64];
    for (int i = 0; i < 1000; i++) {
        CHECK(fgets(line, sizeof line, f) != NULL, "fgets %d", i);
        snprintf(want, sizeof want, "line %d of the stream\n", i);
        CHECK(strcmp(line, want) == 0, "line %d came back as %s", i, line);
    }
    CHECK(fclose(f) == 0, "fclose");
    printf("1000 lines through fprintf and back through fgets\n");

    /* The socket's number is free again, and whatever takes it is an ordinary file. */
    char path[] = "/tmp/tapstack-stdio-XXXXXX";
    int file = mkstemp(path);
    CHECK(file >= 0, "mkstemp");
    unlink(path);
    CHECK(file == fd, "the file got descriptor %d, not the socket's %d", file, fd);
    CHECK(write(file, "x", 1) == 1, "write to the file on the socket's old number");
    CHECK(lseek(file, 0, SEEK_SET) == 0 && read(file, line, 1) == 1 && line[0] == 'x', "read back");
    close(file);
    printf("after fclose, descriptor %d is an ordinary file\n", fd);

    f = connect_stream("r+", &fd);
    CHECK(fputs("bye\n", f) >= 0 && fflush(f) == 0, "fputs");
    CHECK(fgets(line, sizeof line, f) != NULL && strcmp(line, "bye\n") == 0, "echo of bye");
    CHECK(fclose(f) == 0, "fclose");
    printf("PASS stdio\n");
    return 0;
}
