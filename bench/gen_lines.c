/* Writes a log file of ~120-byte lines, all different (timestamp, sequence number, path, status, duration, size
 * and request id vary per line; some characters need JSON escaping: two `"` per line), to exactly SIZE bytes or
 * just under (the file ends with a complete line). Prints the number of lines on stdout.
 *
 *   gen_lines PATH SIZE_BYTES [SEED]
 *
 * Built by the benchmarks with `cc -O2`; ~1 s per GiB. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t state = 0x9E3779B97F4A7C15ull;
static inline uint64_t next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static const char *levels[] = {"INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "INFO ", "ERROR", "INFO "};
static const char *methods[] = {"GET", "GET", "GET", "POST", "PUT", "GET", "DELETE", "HEAD"};
static const char *paths[] = {
    "/api/v1/time?tz=Europe/Berlin", "/api/v1/time?tz=UTC", "/healthz", "/api/v1/zones",
    "/api/v1/time?tz=US/Pacific&fmt=iso", "/", "/static/app.js", "/api/v1/time?tz=Asia/Tokyo",
};

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PATH SIZE [SEED]\n", argv[0]);
        return 2;
    }
    long long size = atoll(argv[2]);
    if (argc > 3) state ^= (uint64_t)atoll(argv[3]) * 0x2545F4914F6CDD1Dull;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    size_t cap = 4 << 20;
    char *buf = malloc(cap + 512);
    size_t used = 0;
    long long written = 0, lines = 0;
    /* 2026-01-01T00:00:00Z, advancing 0-3 ms per line. */
    long long ms = 1767225600000LL;
    for (;;) {
        char line[512];
        uint64_t r = next();
        ms += r & 3;
        long long s = ms / 1000;
        int sec = s % 60, min = (s / 60) % 60, hour = (s / 3600) % 24, day = 1 + (int)(((s - 1767225600LL) / 86400) % 28);
        int n = snprintf(line, sizeof line,
                         "2026-01-%02dT%02d:%02d:%02d.%03lldZ %s app[%u] req=%010lld %s \"%s\" %u dur_ms=%u.%03u bytes=%u id=%08" PRIx64 "\n",
                         day, hour, min, sec, ms % 1000, levels[r >> 61], 1000 + (unsigned)((r >> 8) & 4095), lines,
                         methods[(r >> 20) & 7], paths[(r >> 23) & 7], (r >> 26) % 16 == 0 ? 500u : 200u,
                         (unsigned)((r >> 30) % 250), (unsigned)((r >> 38) % 1000), (unsigned)((r >> 44) % 60000),
                         (uint64_t)((r >> 16) & 0xFFFFFFFFull));
        if (written + used + n > size) break;
        memcpy(buf + used, line, n);
        used += n;
        lines++;
        if (used >= cap) {
            if (write(fd, buf, used) != (ssize_t)used) {
                perror("write");
                return 1;
            }
            written += used;
            used = 0;
        }
    }
    if (used && write(fd, buf, used) != (ssize_t)used) {
        perror("write");
        return 1;
    }
    close(fd);
    printf("%lld\n", lines);
    return 0;
}
