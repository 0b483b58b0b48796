/* fork() while other threads make sockets' first calls: run under the preload by
 * t_pm_fork_threads.sh against pm_peer.py (echo on 9000). Two threads make sockets and take them
 * to the stack (a UDP sendto; a TCP bind and listen; a UDP connect and send) while the main thread
 * forks children that exit at once. The fork handler takes every socket's lock and the shim's
 * table; a socket's first call held its lock and then needed the table (to close the kernel socket
 * it replaced), and the handler took them the other way round: the fork and the thread waited on
 * each other for good. Usage: pm_fork_threads KERNEL_IP FORKS. Prints "PASS fork threads". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in peer;
static atomic_int stop;

static void *churn(void *arg) {
  long mode = (long)arg;
  while (!atomic_load(&stop)) {
    if (mode == 0) {
      int s = socket(AF_INET, SOCK_DGRAM, 0);
      sendto(s, "x", 1, 0, (struct sockaddr *)&peer, sizeof peer);
      close(s);
    } else if (mode == 1) {
      int s = socket(AF_INET, SOCK_STREAM, 0);
      struct sockaddr_in any = {.sin_family = AF_INET};
      bind(s, (struct sockaddr *)&any, sizeof any);
      listen(s, 5);
      close(s);
    } else {
      int s = socket(AF_INET, SOCK_DGRAM, 0);
      connect(s, (struct sockaddr *)&peer, sizeof peer);
      send(s, "y", 1, 0);
      close(s);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  peer.sin_family = AF_INET;
  peer.sin_port = htons(9000);
  inet_pton(AF_INET, argv[1], &peer.sin_addr);
  int forks = atoi(argv[2]);
  pthread_t t[3];
  for (long m = 0; m < 3; m++) pthread_create(&t[m], 0, churn, (void *)m);
  usleep(50000);
  for (int i = 0; i < forks; i++) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    if (p < 0 || waitpid(p, 0, 0) != p) {
      printf("FAIL fork %d\n", i);
      return 1;
    }
  }
  atomic_store(&stop, 1);
  for (int m = 0; m < 3; m++) pthread_join(t[m], 0);
  printf("PASS fork threads\n");
  return 0;
}
