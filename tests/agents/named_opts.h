/* named_opts - socket options as the suites name them in an agent's arguments. */
#ifndef BG_NAMED_OPTS_H
#define BG_NAMED_OPTS_H

/* setsockopt of "reuseaddr", "reuseport" or "exclusive" (SO_EXCLUSIVEADDRUSE), with
 * "=VALUE" (default 1); an unknown name fails an expectation. */
int named_opts_set(int fd, const char *spec);
/* An IPv4 socket of `proto` ("tcp"/"udp") with the comma-separated options in `opts` all
 * set, each expected to succeed; "-" for none. */
int named_opts_socket(const char *proto, const char *opts);

#endif
