/* SPDX-License-Identifier: MIT */
/* Replays fuzz inputs without libFuzzer, as systemd does: linked with one
 * fuzz-*.c, it calls LLVMFuzzerTestOneInput() once on every file given and
 * on every regular file of every directory given (in name order), each in
 * an allocation of exactly its size, so an ordinary (or sanitizer) build
 * runs the checked-in corpora as a unit test. Fails when an argument cannot
 * be read or when there was nothing to replay; a crash or a failed assert
 * in the target fails the test too.
 * Usage: fuzz-NAME-replay FILE|DIRECTORY... */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Larger than any seed; the targets skip inputs over 64 KiB themselves. */
#define REPLAY_MAX_INPUT (16u * 1024u * 1024u)

static int replay_file(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        _cleanup_free_ uint8_t *data = NULL;
        size_t len = 0;
        int r = read_regular_fd(fd, REPLAY_MAX_INPUT, &data, &len);
        if (r < 0)
                return r;
        /* exactly len bytes, as libFuzzer hands them: an overread is caught */
        _cleanup_free_ uint8_t *exact = xmalloc(len);
        if (len > 0)
                memcpy(exact, data, len);
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
        (void) LLVMFuzzerTestOneInput(exact, len);
        return 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

/* Returns how many files were replayed, or -errno. */
static int replay_path(const char *path) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode)) {
                int r = replay_file(path);
                return r < 0 ? r : 1;
        }
        struct dirent **entries = NULL;
        int n = scandir(path, &entries, NULL, name_cmp);
        if (n < 0)
                return -errno;
        int count = 0, r = 0;
        for (int i = 0; i < n; i++) {
                const char *name = entries[i]->d_name;
                _cleanup_free_ char *p = xasprintf("%s/%s", path, name);
                struct stat est;
                if (r >= 0 && name[0] != '.' && stat(p, &est) == 0 && S_ISREG(est.st_mode)) {
                        r = replay_file(p);
                        if (r < 0)
                                fprintf(stderr, "replay: %s: %s\n", p, strerror(-r));
                        else
                                count++;
                }
                free(entries[i]);
        }
        free(entries);
        return r < 0 ? r : count;
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
                return 2;
        }
        int total = 0;
        for (int i = 1; i < argc; i++) {
                int r = replay_path(argv[i]);
                if (r < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-r));
                        return 1;
                }
                total += r;
        }
        if (total == 0) {
                fprintf(stderr, "replay: no inputs in %s%s\n", argv[1], argc > 2 ? " ..." : "");
                return 1;
        }
        printf("replay: %d inputs, no crash\n", total);
        return 0;
}
