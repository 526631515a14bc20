#include "named_opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bindguard.h"
#include "proc_child.h"

int named_opts_set(int fd, const char *spec)
{
    static const struct {
        const char *name;
        int opt;
    } names[] = {{"reuseaddr", SO_REUSEADDR}, {"reuseport", SO_REUSEPORT},
                 {"exclusive", SO_EXCLUSIVEADDRUSE}};
    size_t n = strcspn(spec, "=");
    int value = spec[n] ? atoi(spec + n + 1) : 1, opt = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && strncmp(spec, names[i].name, n) == 0)
            opt = names[i].opt;
    EXPECT(opt != 0, "unknown option %s", spec);
    return setsockopt(fd, SOL_SOCKET, opt, &value, sizeof value);
}

int named_opts_socket(const char *proto, const char *opts)
{
    int fd = socket(AF_INET, strcmp(proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM, 0);
    EXPECT(fd >= 0, "socket: %s", strerror(errno));
    char list[128];
    snprintf(list, sizeof list, "%s", strcmp(opts, "-") == 0 ? "" : opts);
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        EXPECT_OUTCOME(named_opts_set(fd, tok), "ok");
    return fd;
}
