/* A static program for bench/profiles.sh: writes a file, reads it back,
 * sums its bytes and prints the sum (no libc dynamic loading, no shell). */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char buf[4096];
    unsigned long sum = 0;
    for (int round = 0; round < 200; round++) {
        int fd = open("/tmp/data", O_CREAT | O_TRUNC | O_WRONLY, 0644);
        if (fd < 0) { perror("open"); return 1; }
        for (int i = 0; i < (int)sizeof buf; i++) buf[i] = (char)(i + round);
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) { perror("write"); return 1; }
        close(fd);
        fd = open("/tmp/data", O_RDONLY);
        if (fd < 0) { perror("open"); return 1; }
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            for (ssize_t i = 0; i < n; i++) sum += (unsigned char)buf[i];
        close(fd);
    }
    printf("%lu\n", sum);
    return 0;
}
