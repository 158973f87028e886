/* fsync/fdatasync that fail with EIO, for the reliability suite (LD_PRELOAD).
 *
 * A real syscall failure inside the real SQLite: while the file named by FSYNC_EIO_TRIGGER exists, every
 * fsync or fdatasync of a file whose path contains FSYNC_EIO_MATCH returns -1/EIO without syncing, as a
 * dying disk does. Everything else goes to libc untouched. Build: cc -shared -fPIC -o x.so fsync_eio.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failing(int fd) {
    const char *match = getenv("FSYNC_EIO_MATCH");
    const char *trigger = getenv("FSYNC_EIO_TRIGGER");
    if (match == NULL || trigger == NULL || access(trigger, F_OK) != 0) {
        return 0;
    }
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) {
        return 0;
    }
    path[n] = '\0';
    return strstr(path, match) != NULL;
}

static int sync_or_fail(const char *name, int fd) {
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int fsync(int fd) { return sync_or_fail("fsync", fd); }

int fdatasync(int fd) { return sync_or_fail("fdatasync", fd); }
