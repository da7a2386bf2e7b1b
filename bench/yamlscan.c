/* SPDX-License-Identifier: MIT */
/* The speed floor of the benchmarks: a bare libyaml event scan of a file
 * (read it whole, as fsxds does, then yaml_parser_parse until the stream
 * ends), counting events and building nothing. fsxds cannot be faster than
 * the parser it sits on; bench/compile reports how far above it it is.
 * Usage: yamlscan FILE... (prints "FILE events=N bytes=N" per file). */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

static int read_whole(const char *path, unsigned char **ret, size_t *ret_len) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        size_t len = (size_t) st.st_size;
        unsigned char *buf = malloc(len + 1);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        size_t off = 0;
        while (off < len) {
                ssize_t n = read(fd, buf + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int r = n < 0 ? -errno : -EIO;
                        free(buf);
                        close(fd);
                        return r;
                }
                off += (size_t) n;
        }
        close(fd);
        *ret = buf;
        *ret_len = len;
        return 0;
}

static int scan(const char *path) {
        unsigned char *data = NULL;
        size_t len = 0;
        int r = read_whole(path, &data, &len);
        if (r < 0) {
                fprintf(stderr, "yamlscan: %s: %s\n", path, strerror(-r));
                return 2;
        }
        yaml_parser_t parser;
        if (!yaml_parser_initialize(&parser)) {
                free(data);
                fputs("yamlscan: out of memory\n", stderr);
                return 2;
        }
        yaml_parser_set_input_string(&parser, data, len);
        uint64_t events = 0;
        int rc = 0;
        for (;;) {
                yaml_event_t ev;
                if (!yaml_parser_parse(&parser, &ev)) {
                        fprintf(stderr, "yamlscan: %s:%zu:%zu: %s\n", path, parser.problem_mark.line + 1,
                                parser.problem_mark.column + 1, parser.problem ? parser.problem : "parse error");
                        rc = 1;
                        break;
                }
                events++;
                yaml_event_type_t type = ev.type;
                yaml_event_delete(&ev);
                if (type == YAML_STREAM_END_EVENT)
                        break;
        }
        yaml_parser_delete(&parser);
        free(data);
        if (rc == 0)
                printf("%s events=%llu bytes=%zu\n", path, (unsigned long long) events, len);
        return rc;
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fputs("Usage: yamlscan FILE...\n", stderr);
                return 2;
        }
        int rc = 0;
        for (int i = 1; i < argc; i++) {
                int r = scan(argv[i]);
                if (r > rc)
                        rc = r;
        }
        return rc;
}
