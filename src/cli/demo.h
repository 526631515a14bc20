/* demo - the bind agents `bindguard demo` runs: this binary re-executed with
 * DEMO_AGENT_FLAG, once as a holder and once as a hijacker, each with or without the
 * library preloaded, each with stdio piped to us and bounded waits. */
#ifndef BG_CLI_DEMO_H
#define BG_CLI_DEMO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define DEMO_AGENT_FLAG "--agent"   /* bindguard demo --agent ROLE ADDR PORT OPTS LISTEN */
#define DEMO_HOLDER     "demo-holder"   /* the role that holds its socket */
#define DEMO_HIJACKER   "demo-hijacker"
#define DEMO_WAIT_MS    5000        /* an agent answering */

enum { DEMO_REUSEADDR = 1, DEMO_REUSEPORT = 2, DEMO_EXCLUSIVE = 4 };

/* A TCP bind: the address, the options set first (DEMO_*), then listen or not. */
struct demo_bind {
    const char *addr;
    unsigned opts;
    bool listen;
};

struct demo_spawn {
    const char *lib;        /* LD_PRELOAD this; NULL: no library at all */
    const char *table;      /* BINDGUARD_TABLE */
    const char *role;       /* DEMO_HOLDER or DEMO_HIJACKER: its name, which a refusal names */
    bool as_other;          /* drop to uid/gid first */
    uid_t uid;
    gid_t gid;
};

struct demo_agent {
    pid_t pid;              /* 0: not started */
    bool holds;             /* a holder: runs until its stdin closes */
    int in, out, err;       /* our ends of its stdio */
};

struct demo_result {
    int opt_err, bind_err;  /* errno of the first failed setsockopt, of bind/listen */
    char log[512];          /* what it wrote on stderr: the library's refusal, if any */
};

/* Start an agent binding `b` on port. false: could not (nothing left running). */
bool demo_agent_start(const struct demo_spawn *how, const struct demo_bind *b, uint16_t port,
                      struct demo_agent *a);
/* Its one result line, and a hijacker's stderr. false: no answer in time. */
bool demo_agent_result(struct demo_agent *a, struct demo_result *r);
/* Close its stdin (a holder lets go), wait DEMO_WAIT_MS at most, then SIGKILL it. */
void demo_agent_stop(struct demo_agent *a);

/* A TCP port on 127.0.0.1 and 0.0.0.0 the kernel just said was free. */
uint16_t demo_free_port(void);

/* The agent itself: argv[0] is DEMO_AGENT_FLAG. Exit status 0, 2 on bad arguments. */
int demo_agent_main(int argc, char **argv);

#endif
