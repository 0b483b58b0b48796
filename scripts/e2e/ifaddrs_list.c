/* The IPv4 addresses getifaddrs(3) lists, one line per entry: NAME ADDRESS NETMASK BROADCAST (or
 * "-" without IFF_BROADCAST), as named and ntpd read them to bind each address. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>

static const char *text(const struct sockaddr *sa, char *buf) {
    if (!sa || sa->sa_family != AF_INET) return "-";
    return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, INET_ADDRSTRLEN);
}

int main(void) {
    struct ifaddrs *list;
    if (getifaddrs(&list) != 0) {
        perror("getifaddrs");
        return 1;
    }
    for (struct ifaddrs *p = list; p; p = p->ifa_next) {
        if (!p->ifa_addr || p->ifa_addr->sa_family != AF_INET) continue;
        char a[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
        printf("%s %s %s %s\n", p->ifa_name, text(p->ifa_addr, a), text(p->ifa_netmask, m),
               (p->ifa_flags & IFF_BROADCAST) ? text(p->ifa_broadaddr, b) : "-");
    }
    freeifaddrs(list);
    return 0;
}
