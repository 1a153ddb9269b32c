/* The supervision benchmark's app: as small and fast to start as an app can be, so that what is measured is the
 * supervisor, not the app.
 *
 *   tiny_app PORT RECORD_FILE
 *
 * On start it appends "start <pid> <CLOCK_MONOTONIC ns>\n" to RECORD_FILE, binds 127.0.0.1:PORT (SO_REUSEADDR,
 * so a restart right after SIGKILL can bind again), appends "listen <pid> <ns>\n", then answers every
 * connection with `HTTP/1.1 200 OK` and "ok" (Connection: close). Each record is one write(2) with O_APPEND. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void record(const char *path, const char *what) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char line[128];
    int n = snprintf(line, sizeof line, "%s %d %lld\n", what, (int)getpid(),
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, line, n) != n) perror("write");
        close(fd);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT RECORD_FILE\n", argv[0]);
        return 2;
    }
    record(argv[2], "start");
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(s, 64) != 0) {
        perror("bind/listen");
        return 1;
    }
    record(argv[2], "listen");
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    for (;;) {
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        char buf[4096];
        ssize_t got = 0, n;
        while (got < (ssize_t)sizeof buf && (n = read(c, buf + got, sizeof buf - got)) > 0) {
            got += n;
            if (memmem(buf, got, "\r\n\r\n", 4)) break;
        }
        if (write(c, answer, sizeof answer - 1) < 0) perror("write");
        close(c);
    }
}
