/* test_fuzz - differential fuzzer: random socket-call sequences natively and under the shim.
 *
 * A case is a seed (tests/fuzz/case.h, generator.c). Each case runs three times as the
 * agent fuzz_run, each with its own ports (same layout), table and log: natively, under
 * the shim with BINDGUARD_MODE=off, and under it enforcing (BINDGUARD_DEFAULT and
 * _REUSEADDR drawn from the seed). Their transcripts (transcript.c) go to the checker
 * (checker.c), which holds the enforcing run to a model of it (model.c): off must equal
 * native, log nothing and create no table; every difference under enforce must be a
 * refusal that its logged seed cell explains, or follow from one (tainted sockets and
 * ports, so a case is checked to its end, not just to its first refusal). Once every
 * slot is closed, the table must be empty.
 *
 * CI runs FUZZ_CASES cases from a fixed base seed, so a failure reproduces;
 * BG_FUZZ_CASES=N runs more, BG_FUZZ_SEED=S starts elsewhere (case k has seed S+k), and
 * BG_FUZZ_SEED=S BG_FUZZ_CASES=1 reruns one case. A failing case runs once more with
 * other ports before it counts, since another process may take a port meanwhile. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz/case.h"
#include "fuzz/checker.h"
#include "fuzz/transcript.h"
#include "harness.h"
#include "proc.h"
#include "tables.h"

#define FUZZ_CASES     200
#define FUZZ_BASE_SEED UINT64_C(0x62696e6467756172)  /* "bindguar" */
#define CHILD_MS       20000u
#define TABLE_SLOTS    256u

/* ===== three runs of a case ================================================================ */

static char *slurp(int fd)
{
    off_t size = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)(size > 0 ? size : 0) + 1);
    ck_assert(buf);
    ssize_t got = size > 0 ? pread(fd, buf, (size_t)size, 0) : 0;
    buf[got > 0 ? got : 0] = '\0';
    close(fd);
    return buf;
}

/* One run under way. Its output goes to memory files rather than proc's pipes: a
 * transcript outgrows their buffers, and the child never waits for us to read. */
struct running {
    struct proc *p;
    int out, err;
    char table[128], log[256];
};

static void output_to_memory(void *arg)
{
    const struct running *rn = arg;
    if (dup2(rn->out, STDOUT_FILENO) < 0 || dup2(rn->err, STDERR_FILENO) < 0)
        _exit(126);
}

static void start_run(const struct fuzz_case *c, enum mode m, const int *ports,
                      struct running *rn)
{
    char seed[32], portv[MAX_PORTS][16], env[4][64];
    snprintf(seed, sizeof seed, "0x%016" PRIx64, c->seed);
    const char *argv[4 + MAX_PORTS] = {"fuzz_run", seed, mode_names[m]};
    for (int k = 0; k < c->cfg.nports; k++) {
        snprintf(portv[k], sizeof portv[k], "%d", ports[k]);
        argv[3 + k] = portv[k];
    }
    argv[3 + c->cfg.nports] = NULL;

    proc_table_name(rn->table, sizeof rn->table);
    proc_log_path(rn->log, sizeof rn->log);
    /* Created before the child starts, so the child can follow it from the beginning. */
    int lfd = open(rn->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(lfd >= 0, "%s: %s", rn->log, strerror(errno));
    close(lfd);

    snprintf(env[0], sizeof env[0], "BINDGUARD_MODE=%s", m == MODE_OFF ? "off" : "enforce");
    snprintf(env[1], sizeof env[1], "BINDGUARD_DEFAULT=%s",
             c->cfg.windows_default ? "windows" : "exclusive");
    snprintf(env[2], sizeof env[2], "BINDGUARD_REUSEADDR=%s",
             c->cfg.windows_reuseaddr ? "windows" : "linux");
    snprintf(env[3], sizeof env[3], "BINDGUARD_PROFILE=%s", c->cfg.profile);
    const struct proc_how how = {
        .shim = m != MODE_NATIVE, .table = rn->table, .log = rn->log, .slots = TABLE_SLOTS,
        .env = {env[0], env[1], env[2], env[3]}, .pre_exec = output_to_memory, .arg = rn,
    };
    rn->out = memfd_create("fuzz-out", MFD_CLOEXEC);
    rn->err = memfd_create("fuzz-err", MFD_CLOEXEC);
    ck_assert(rn->out >= 0 && rn->err >= 0);
    rn->p = proc_spawn(&how, argv);
}

static void finish_run(struct running *rn, int n_ops, struct transcript *t)
{
    int status = proc_finish(rn->p, CHILD_MS);
    char *text = slurp(rn->out);
    transcript_parse(t, text, slurp(rn->err), status, n_ops);
}

/* ===== ports ================================================================================ */

static uint64_t port_rng;

/* Free ports far below the kernel's ephemeral range, so no port-0 bind or listen of a case
 * can land on them, and below where test_cells (20000 up) and the benchmarks (10000 up)
 * take theirs, so a suite or benchmark running beside this one rarely meets them. */
static void fresh_ports(int *ports, int n)
{
    for (int i = 0; i < n;) {
        int port = 2000 + (int)gen_below(&port_rng, 8000);
        bool dup = false;
        for (int j = 0; j < i; j++)
            dup |= ports[j] == port;
        int t = socket(AF_INET6, SOCK_STREAM, 0), u = socket(AF_INET6, SOCK_DGRAM, 0), off = 0;
        union sa_room a;
        memset(&a, 0, sizeof a);
        a.in6.sin6_family = AF_INET6;
        a.in6.sin6_port = htons((uint16_t)port);
        setsockopt(t, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (!dup && bind(t, &a.sa, sizeof a.in6) == 0 && bind(u, &a.sa, sizeof a.in6) == 0)
            ports[i++] = port;
        close(t);
        close(u);
    }
}

/* ===== the cases =========================================================================== */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* Run one case three ways and check it; false (reported if `say`) if it failed. */
static bool fuzz_run(uint64_t seed, struct totals *tot, bool say)
{
    static struct fuzz_case c;
    gen_case(seed, &c);
    struct running rn[N_MODES];
    struct transcript t[N_MODES];
    int ports[N_MODES][MAX_PORTS];
    /* All at once: a run not started yet has not bound its ports, so picking them one
     * run at a time could give two runs the same port. */
    fresh_ports(&ports[0][0], N_MODES * MAX_PORTS);
    for (int m = 0; m < N_MODES; m++)
        start_run(&c, (enum mode)m, ports[m], &rn[m]);
    for (int m = 0; m < N_MODES; m++)
        finish_run(&rn[m], c.n, &t[m]);
    static struct check k;
    k.c = &c;
    k.ports = ports[MODE_ENFORCE];
    struct totals counted = {1, 0, 0, c.n};
    bool ok = check_case(&k, t, &counted);
    if (ok && harness_table_exists(rn[MODE_OFF].table))
        ok = check_failed(&k, -1, "BINDGUARD_MODE=off created its table");
    const char *enforced = rn[MODE_ENFORCE].table;
    size_t left =
        ok && harness_table_exists(enforced) ? tables_entries(enforced, TABLE_SLOTS) : 0;
    if (ok && left)
        ok = check_failed(&k, -1, "%zu binding(s) left in the table after every slot was closed",
                          left);
    if (!ok && say)
        check_report(&k, t);
    else if (!ok)
        printf("fuzz: case 0x%016" PRIx64 " failed at op %d (%s); running it again\n", seed,
               k.at, k.why);
    for (int m = 0; m < N_MODES; m++) {
        transcript_free(&t[m]);
        harness_table_remove(rn[m].table);
        unlink(rn[m].log);
    }
    if (ok || say) {
        tot->cases += counted.cases;
        tot->ops += counted.ops;
        tot->refusals += counted.refusals;
        tot->differences += counted.differences;
    }
    return ok;
}

/* Every case is deterministic but for its ports, which another process on the machine
 * may take between our choosing and our child binding them: a failure counts only if it
 * happens again with other ports. */
static bool fuzz_one(uint64_t seed, struct totals *tot)
{
    return fuzz_run(seed, tot, false) || fuzz_run(seed, tot, true);
}

START_TEST(differential)
{
    uint64_t base = env_u64("BG_FUZZ_SEED", FUZZ_BASE_SEED);
    uint64_t cases = env_u64("BG_FUZZ_CASES", FUZZ_CASES);
    port_rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct totals tot = {0, 0, 0, 0};
    int bad = 0;
    uint64_t first_bad = 0;
    for (uint64_t i = 0; i < cases; i++) {
        if (!fuzz_one(base + i, &tot) && bad++ == 0)
            first_bad = base + i;
        /* A few failing cases tell enough; hundreds would bury the first. */
        if (bad >= 3)
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("fuzz: %d cases, %d calls, %d refusals and %d differences from native explained; "
           "base seed 0x%016" PRIx64 ", %.1f s\n", tot.cases, tot.ops, tot.refusals,
           tot.differences, base, secs);
    fflush(stdout);  /* a failed assertion ends this process without flushing */
    ck_assert_msg(bad == 0, "%d case(s) failed, the first with seed 0x%016" PRIx64
                  " (details on stderr)", bad, first_bad);
}
END_TEST

int main(void)
{
    if (access(harness_env("BG_LIB"), R_OK) != 0) {
        fprintf(stderr, "test_fuzz: %s not built\n", harness_env("BG_LIB"));
        return EXIT_FAILURE;
    }
    proc_init("fuzz");
    proc_cleanup_on_signals();
    uint64_t base = env_u64("BG_FUZZ_SEED", FUZZ_BASE_SEED);
    uint64_t cases = env_u64("BG_FUZZ_CASES", FUZZ_CASES);
    printf("test_fuzz: base seed 0x%016" PRIx64 ", %" PRIu64 " cases "
           "(BG_FUZZ_SEED, BG_FUZZ_CASES)\n", base, cases);
    fflush(stdout);
    Suite *s = suite_create("fuzz");
    TCase *tc = tcase_create("differential");
    /* About 0.1 s a case; a long run asked for by BG_FUZZ_CASES must not time out. */
    tcase_set_timeout(tc, 60.0 + (double)cases);
    tcase_add_test(tc, differential);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    proc_cleanup();
    return rc;
}
