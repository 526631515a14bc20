/* main - a paired bench's program: the parent's whole run, or a measuring child's loop
 * when the parent started it as one. */
#include "run.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindguard.h"
#include "cli/preload.h"

/* BG_LIB (meson sets it), else the library of the build tree this bench was built in
 * (build/bench/bench_x beside build/src/libbindguard.so). */
static bool find_lib(char *buf, size_t len)
{
    static const char *const dirs[] = { "../src", NULL };
    char tried[PATH_MAX];
    return preload_find_or_env("BG_LIB", "libbindguard.so", dirs, buf, len, tried,
                               sizeof tried);
}

/* Settings of the library that the shim side inherits: they change what is measured. */
static void print_inherited_settings(void)
{
    static const char *const names[] = {
        BINDGUARD_ENV_PROFILE, BINDGUARD_ENV_MODE, BINDGUARD_ENV_DEFAULT,
        BINDGUARD_ENV_REUSEADDR, BINDGUARD_ENV_EMULATE, BINDGUARD_ENV_TABLE_SLOTS,
        BINDGUARD_ENV_LOCK_TIMEOUT_MS, BINDGUARD_ENV_SHARE_UIDS,
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v)
            printf("  shim side also runs with %s=%s from the environment\n", names[i], v);
    }
}

static int run_parent(const struct bench *b, const char *argv0)
{
    static char lib[PATH_MAX], preload[2 * PATH_MAX + 2], table[96];
    if (!find_lib(lib, sizeof lib)) {
        fprintf(stderr, "bench %s: libbindguard.so not found; set BG_LIB\n", b->name);
        return 2;
    }
    const char *san = getenv("BG_SAN_PRELOAD");
    bool with_san = san && *san;
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s", with_san ? san : "",
             with_san ? ":" : "", lib);
    snprintf(table, sizeof table, "BINDGUARD_TABLE=/bg-bench-%s-%d", b->name, (int)getpid());
    char shm_path[128];
    /* The shim side's own table under that prefix (one table per user). */
    snprintf(shm_path, sizeof shm_path, "/dev/shm%s.%u", strchr(table, '/'),
             (unsigned)geteuid());
    char *native_env[] = { NULL };
    char *shim_env[] = { preload, table, "BINDGUARD_LOG=off", NULL };
    char *const *envs[SIDES] = { native_env, shim_env };

    struct run r = { .b = b };
    r.samples = calloc(b->n_rows * SIDES * (size_t)b->rounds, sizeof *r.samples);
    struct figures *f = calloc(b->n_rows, sizeof *f);
    if (!r.samples || !f)
        return 1;
    bool ok = true;
    for (int s = 0; s < SIDES && ok; s++)
        ok = run_spawn(&r.kids[s], argv0, s, envs[s]);
    ok = ok && run_sample_all(&r);
    for (int s = 0; s < SIDES; s++) {
        if (!ok && r.kids[s].pid > 0)
            kill(r.kids[s].pid, SIGKILL);
        ok &= run_stop_child(&r.kids[s]);
    }
    unlink(shm_path);
    if (!ok) {
        fprintf(stderr, "bench %s: broken (a measuring child failed)\n", b->name);
        return 1;
    }
    figures_of(&r, f);
    report_table(&r, f);
    printf("  shim side: %s, %s, BINDGUARD_LOG=off\n", preload, table);
    print_inherited_settings();
    const char *json = getenv("BG_BENCH_JSON");
    if (json && *json && !report_json(&r, f, json)) {
        fprintf(stderr, "bench %s: cannot write %s: %s\n", b->name, json, strerror(errno));
        ok = false;
    }
    free(r.samples);
    free(f);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *argv0 = argc > 0 && argv[0] ? argv[0] : "bench";
    if (argc > 1 && strcmp(argv[1], CHILD_FLAG) == 0)
        return bench_serve(&bench);
    return run_parent(&bench, argv0);
}
