/* test_config - config_parse against a fake environment, config_get against the real one. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindguard.h"
#include "config.h"
#include "harness.h"

#define MAX_VARS  16
#define MAX_WARNS 16

static struct { const char *name, *value; } env[MAX_VARS];
static size_t n_env;
static char warns[MAX_WARNS][1024];
static size_t n_warns;

static const char *fake_get(const char *name)
{
    for (size_t i = 0; i < n_env; i++)
        if (strcmp(env[i].name, name) == 0)
            return env[i].value;
    return NULL;
}

static void fake_warn(const char *line)
{
    ck_assert_msg(strchr(line, '\n') == NULL, "warn line has a newline: %s", line);
    if (n_warns < MAX_WARNS)
        snprintf(warns[n_warns], sizeof warns[0], "%s", line);
    n_warns++;
}

static void reset(void)
{
    n_env = 0;
    n_warns = 0;
}

static void set(const char *name, const char *value)
{
    ck_assert_uint_lt(n_env, MAX_VARS);
    env[n_env].name = name;
    env[n_env].value = value;
    n_env++;
}

/* Parse with only name=value set; assert the number of warnings. */
static struct bg_config parse1(const char *name, const char *value, int want_bad)
{
    struct bg_config c;
    reset();
    set(name, value);
    int bad = config_parse(&c, fake_get, fake_warn);
    ck_assert_msg(bad == want_bad, "%s='%s': %d bad values, want %d", name, value, bad,
                  want_bad);
    ck_assert_uint_eq(n_warns, (size_t)want_bad);
    return c;
}

/* One bad value: exactly one line, naming the variable and the valid values. */
static struct bg_config parse_bad(const char *name, const char *value, const char *valid,
                                  const char *fallback)
{
    struct bg_config c = parse1(name, value, 1);
    char want[1024];
    snprintf(want, sizeof want, "bindguard: %s='%s' is not valid (%s); using %s", name,
             value, valid, fallback);
    ck_assert_str_eq(warns[0], want);
    return c;
}

static void assert_defaults(const struct bg_config *c)
{
    ck_assert_ptr_nonnull(c->profile);
    ck_assert_ptr_eq(c->profile, policy_profile("ws2003"));
    ck_assert_int_eq(c->mode, BG_MODE_ENFORCE);
    ck_assert_int_eq(c->default_class, BG_DEFAULT_EXCLUSIVE);
    ck_assert_int_eq(c->reuseaddr, BG_REUSEADDR_LINUX);
    ck_assert(!c->emulate);
    ck_assert_str_eq(c->table, BINDGUARD_DEFAULT_TABLE);
    ck_assert_uint_eq(c->table_slots, 65536);
    ck_assert_uint_eq(c->lock_timeout_ms, 1000);
    ck_assert_int_eq(c->log, BG_LOG_STDERR);
    ck_assert_str_eq(c->log_path, "");
    ck_assert_uint_eq(c->n_share_uids, 0);
    ck_assert(!c->force_exclusive);
}

static const char *const all_vars[] = {
    BINDGUARD_ENV_PROFILE, BINDGUARD_ENV_MODE, BINDGUARD_ENV_DEFAULT,
    BINDGUARD_ENV_REUSEADDR, BINDGUARD_ENV_EMULATE, BINDGUARD_ENV_TABLE,
    BINDGUARD_ENV_TABLE_SLOTS, BINDGUARD_ENV_LOCK_TIMEOUT_MS, BINDGUARD_ENV_LOG,
    BINDGUARD_ENV_SHARE_UIDS, BINDGUARD_ENV_FORCE_EXCLUSIVE,
};
#define N_VARS (sizeof all_vars / sizeof all_vars[0])

START_TEST(defaults_when_unset)
{
    struct bg_config c;
    reset();
    ck_assert_int_eq(config_parse(&c, fake_get, fake_warn), 0);
    ck_assert_uint_eq(n_warns, 0);
    assert_defaults(&c);
}
END_TEST

START_TEST(empty_is_unset)
{
    struct bg_config c;
    reset();
    for (size_t i = 0; i < N_VARS; i++)
        set(all_vars[i], "");
    ck_assert_int_eq(config_parse(&c, fake_get, fake_warn), 0);
    ck_assert_uint_eq(n_warns, 0);
    assert_defaults(&c);
}
END_TEST

START_TEST(null_warn_still_counts)
{
    struct bg_config c;
    reset();
    set(BINDGUARD_ENV_MODE, "loud");
    ck_assert_int_eq(config_parse(&c, fake_get, NULL), 1);
    ck_assert_int_eq(c.mode, BG_MODE_ENFORCE);
}
END_TEST

START_TEST(profiles)
{
    static const char *const names[] = {"ws2003", "WS2003", "Vista", "ws2008", "win7",
                                        "xp", "XP", "nt4", "win2000", "win95", "win98",
                                        "winme", "wsk", "WsK"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct bg_config c = parse1(BINDGUARD_ENV_PROFILE, names[i], 0);
        ck_assert_ptr_nonnull(c.profile);
        ck_assert_ptr_eq(c.profile, policy_profile(names[i]));
        ck_assert_int_eq(strcasecmp(c.profile->name, names[i]), 0);
    }
}
END_TEST

START_TEST(bad_profile)
{
    struct bg_config c = parse_bad(BINDGUARD_ENV_PROFILE, "win11", policy_profile_names(),
                                   "ws2003");
    ck_assert_ptr_eq(c.profile, policy_profile("ws2003"));
    parse_bad(BINDGUARD_ENV_PROFILE, " ws2003", policy_profile_names(), "ws2003");
}
END_TEST

START_TEST(modes)
{
    ck_assert_int_eq(parse1(BINDGUARD_ENV_MODE, "enforce", 0).mode, BG_MODE_ENFORCE);
    ck_assert_int_eq(parse1(BINDGUARD_ENV_MODE, "audit", 0).mode, BG_MODE_AUDIT);
    ck_assert_int_eq(parse1(BINDGUARD_ENV_MODE, "off", 0).mode, BG_MODE_OFF);
    ck_assert_int_eq(parse1(BINDGUARD_ENV_MODE, "AUDIT", 0).mode, BG_MODE_AUDIT);
    ck_assert_int_eq(parse1(BINDGUARD_ENV_MODE, "Off", 0).mode, BG_MODE_OFF);
    ck_assert_str_eq(config_mode_name(BG_MODE_ENFORCE), "enforce");
    ck_assert_str_eq(config_mode_name(BG_MODE_AUDIT), "audit");
    ck_assert_str_eq(config_mode_name(BG_MODE_OFF), "off");
}
END_TEST

START_TEST(bad_mode)
{
    struct bg_config c = parse_bad(BINDGUARD_ENV_MODE, "loud", "enforce, audit, off",
                                   "enforce");
    ck_assert_str_eq(warns[0], "bindguard: BINDGUARD_MODE='loud' is not valid "
                     "(enforce, audit, off); using enforce");
    ck_assert_int_eq(c.mode, BG_MODE_ENFORCE);
    parse_bad(BINDGUARD_ENV_MODE, "audit ", "enforce, audit, off", "enforce");
    parse_bad(BINDGUARD_ENV_MODE, "auditx", "enforce, audit, off", "enforce");
    parse_bad(BINDGUARD_ENV_MODE, "aud", "enforce, audit, off", "enforce");
}
END_TEST

START_TEST(default_and_reuseaddr)
{
    ck_assert_int_eq(parse1(BINDGUARD_ENV_DEFAULT, "exclusive", 0).default_class,
                     BG_DEFAULT_EXCLUSIVE);
    ck_assert_int_eq(parse1(BINDGUARD_ENV_DEFAULT, "Windows", 0).default_class,
                     BG_DEFAULT_WINDOWS);
    ck_assert_int_eq(parse_bad(BINDGUARD_ENV_DEFAULT, "shared", "exclusive, windows",
                               "exclusive").default_class, BG_DEFAULT_EXCLUSIVE);
    ck_assert_int_eq(parse1(BINDGUARD_ENV_REUSEADDR, "linux", 0).reuseaddr,
                     BG_REUSEADDR_LINUX);
    ck_assert_int_eq(parse1(BINDGUARD_ENV_REUSEADDR, "WINDOWS", 0).reuseaddr,
                     BG_REUSEADDR_WINDOWS);
    ck_assert_int_eq(parse_bad(BINDGUARD_ENV_REUSEADDR, "bsd", "linux, windows",
                               "linux").reuseaddr, BG_REUSEADDR_LINUX);
}
END_TEST

START_TEST(emulate)
{
    static const char *const on[] = {"1", "true", "TRUE", "yes", "Yes", "on", "ON"};
    static const char *const off[] = {"0", "false", "False", "no", "NO", "off", "oFF"};
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++)
        ck_assert(parse1(BINDGUARD_ENV_EMULATE, on[i], 0).emulate);
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        ck_assert(!parse1(BINDGUARD_ENV_EMULATE, off[i], 0).emulate);
    const char *valid = "0, 1, false, true, no, yes, off, on";
    ck_assert(!parse_bad(BINDGUARD_ENV_EMULATE, "2", valid, "0").emulate);
    ck_assert(!parse_bad(BINDGUARD_ENV_EMULATE, "01", valid, "0").emulate);
    ck_assert(!parse_bad(BINDGUARD_ENV_EMULATE, "y", valid, "0").emulate);
}
END_TEST

START_TEST(force_exclusive)
{
    ck_assert(!parse1(BINDGUARD_ENV_EMULATE, "1", 0).force_exclusive);
    struct bg_config c = parse1(BINDGUARD_ENV_FORCE_EXCLUSIVE, "1", 0);
    ck_assert(c.force_exclusive && config_classing(&c).force_exclusive);
    c = parse1(BINDGUARD_ENV_FORCE_EXCLUSIVE, "off", 0);
    ck_assert(!c.force_exclusive && !config_classing(&c).force_exclusive);
    ck_assert(!parse_bad(BINDGUARD_ENV_FORCE_EXCLUSIVE, "always",
                         "0, 1, false, true, no, yes, off, on", "0").force_exclusive);
}
END_TEST

START_TEST(table_slots)
{
    const char *valid = "16..4194304";
    ck_assert_uint_eq(parse1(BINDGUARD_ENV_TABLE_SLOTS, "16", 0).table_slots, 16);
    ck_assert_uint_eq(parse1(BINDGUARD_ENV_TABLE_SLOTS, "4194304", 0).table_slots, 4194304);
    ck_assert_uint_eq(parse1(BINDGUARD_ENV_TABLE_SLOTS, "1024", 0).table_slots, 1024);
    static const char *const bad[] = {"15", "0", "4194305", "1024x", " 1024", "1024 ",
                                      "-1024", "+1024", "0x400", "1e3", "10 24",
                                      "99999999999999999999", "4294967312"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_uint_eq(parse_bad(BINDGUARD_ENV_TABLE_SLOTS, bad[i], valid,
                                    "65536").table_slots, 65536);
    /* A control character is shown as '?' in the warning. */
    ck_assert_uint_eq(parse1(BINDGUARD_ENV_TABLE_SLOTS, "\t16", 1).table_slots, 65536);
    ck_assert_str_eq(warns[0], "bindguard: BINDGUARD_TABLE_SLOTS='?16' is not valid "
                     "(16..4194304); using 65536");
}
END_TEST

START_TEST(lock_timeout)
{
    const char *valid = "1..60000";
    ck_assert_uint_eq(parse1(BINDGUARD_ENV_LOCK_TIMEOUT_MS, "1", 0).lock_timeout_ms, 1);
    ck_assert_uint_eq(parse1(BINDGUARD_ENV_LOCK_TIMEOUT_MS, "60000", 0).lock_timeout_ms,
                      60000);
    ck_assert_uint_eq(parse1(BINDGUARD_ENV_LOCK_TIMEOUT_MS, "0250", 0).lock_timeout_ms, 250);
    static const char *const bad[] = {"0", "60001", "-5", "5ms", "1.5", "4294967296", " 5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_uint_eq(parse_bad(BINDGUARD_ENV_LOCK_TIMEOUT_MS, bad[i], valid,
                                    "1000").lock_timeout_ms, 1000);
}
END_TEST

static const char *const table_valid =
    "a shm name such as /bindguard-v3, or an absolute path without '..'";

START_TEST(table_names)
{
    ck_assert_str_eq(parse1(BINDGUARD_ENV_TABLE, "/bindguard-test", 0).table,
                     "/bindguard-test");
    ck_assert_str_eq(parse1(BINDGUARD_ENV_TABLE, "bindguard-test", 0).table,
                     "bindguard-test");
    ck_assert_str_eq(parse1(BINDGUARD_ENV_TABLE, "/var/lib/bindguard/table", 0).table,
                     "/var/lib/bindguard/table");
    ck_assert_str_eq(parse1(BINDGUARD_ENV_TABLE, "/tmp/..x/a.b", 0).table, "/tmp/..x/a.b");

    char longest[CONFIG_PATH_MAX];
    memset(longest, 'a', sizeof longest - 1);
    longest[0] = '/';
    longest[sizeof longest - 1] = '\0';
    ck_assert_str_eq(parse1(BINDGUARD_ENV_TABLE, longest, 0).table, longest);
}
END_TEST

START_TEST(bad_table_names)
{
    static const char *const bad[] = {"tmp/table", "./table", "/tmp/../etc/passwd", "/..",
                                      "..", ".", "/", "/.", "/tmp/", "/tmp/.", "a/..",
                                      "/tmp/x/.."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_str_eq(parse_bad(BINDGUARD_ENV_TABLE, bad[i], table_valid,
                                   BINDGUARD_DEFAULT_TABLE).table, BINDGUARD_DEFAULT_TABLE);

    char too_long[CONFIG_PATH_MAX + 1];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[0] = '/';
    too_long[sizeof too_long - 1] = '\0';
    struct bg_config c = parse1(BINDGUARD_ENV_TABLE, too_long, 1);
    ck_assert_str_eq(c.table, BINDGUARD_DEFAULT_TABLE);
    ck_assert_ptr_nonnull(strstr(warns[0], "BINDGUARD_TABLE='/aaa"));
    ck_assert_ptr_nonnull(strstr(warns[0], "...' is not valid"));
    ck_assert_ptr_nonnull(strstr(warns[0], "; using /bindguard-v3"));
}
END_TEST

START_TEST(log_targets)
{
    ck_assert_int_eq(parse1(BINDGUARD_ENV_LOG, "stderr", 0).log, BG_LOG_STDERR);
    ck_assert_int_eq(parse1(BINDGUARD_ENV_LOG, "syslog", 0).log, BG_LOG_SYSLOG);
    ck_assert_int_eq(parse1(BINDGUARD_ENV_LOG, "SysLog", 0).log, BG_LOG_SYSLOG);
    ck_assert_int_eq(parse1(BINDGUARD_ENV_LOG, "off", 0).log, BG_LOG_OFF);
    struct bg_config c = parse1(BINDGUARD_ENV_LOG, "/var/log/bindguard.log", 0);
    ck_assert_int_eq(c.log, BG_LOG_FILE);
    ck_assert_str_eq(c.log_path, "/var/log/bindguard.log");

    const char *valid = "stderr, syslog, off, or an absolute file path";
    static const char *const bad[] = {"bindguard.log", "log/x", "/var/../x", "/var/log/",
                                      "stdout", " stderr", "/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = parse_bad(BINDGUARD_ENV_LOG, bad[i], valid, "stderr");
        ck_assert_int_eq(c.log, BG_LOG_STDERR);
        ck_assert_str_eq(c.log_path, "");
    }
}
END_TEST

static const char *const uids_valid = "up to 8 comma-separated numeric uids";

START_TEST(share_uids)
{
    struct bg_config c = parse1(BINDGUARD_ENV_SHARE_UIDS, "1", 0);
    ck_assert_uint_eq(c.n_share_uids, 1);
    ck_assert_uint_eq(c.share_uids[0], 1);

    c = parse1(BINDGUARD_ENV_SHARE_UIDS, "0,1000,65534,4294967294", 0);
    ck_assert_uint_eq(c.n_share_uids, 4);
    ck_assert_uint_eq(c.share_uids[0], 0);
    ck_assert_uint_eq(c.share_uids[1], 1000);
    ck_assert_uint_eq(c.share_uids[2], 65534);
    ck_assert_uint_eq(c.share_uids[3], 4294967294u);

    c = parse1(BINDGUARD_ENV_SHARE_UIDS, "1,2,3,4,5,6,7,8", 0);
    ck_assert_uint_eq(c.n_share_uids, CONFIG_MAX_SHARE);
    for (unsigned i = 0; i < CONFIG_MAX_SHARE; i++)
        ck_assert_uint_eq(c.share_uids[i], i + 1);
}
END_TEST

START_TEST(bad_share_uids)
{
    static const char *const bad[] = {"1,2,3,4,5,6,7,8,9", "1,,2", ",1", "1,", ",", "1, 2",
                                      " 1", "1 ", "-1", "+1", "root", "1;2", "4294967295",
                                      "99999999999", "1000:1001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_uint_eq(parse_bad(BINDGUARD_ENV_SHARE_UIDS, bad[i], uids_valid,
                                    "none").n_share_uids, 0);
}
END_TEST

START_TEST(one_line_per_bad_value)
{
    struct bg_config c;
    reset();
    set(BINDGUARD_ENV_MODE, "loud");
    set(BINDGUARD_ENV_TABLE_SLOTS, "lots");
    set(BINDGUARD_ENV_PROFILE, "win11");
    set(BINDGUARD_ENV_EMULATE, "audit");      /* valid words, wrong variables */
    set(BINDGUARD_ENV_DEFAULT, "enforce");
    set(BINDGUARD_ENV_REUSEADDR, "linux");    /* valid */
    set(BINDGUARD_ENV_LOG, "/tmp/bg.log");    /* valid */
    ck_assert_int_eq(config_parse(&c, fake_get, fake_warn), 5);
    ck_assert_uint_eq(n_warns, 5);
    static const char *const named[] = {"BINDGUARD_PROFILE='win11'", "BINDGUARD_MODE='loud'",
                                        "BINDGUARD_DEFAULT='enforce'",
                                        "BINDGUARD_EMULATE='audit'",
                                        "BINDGUARD_TABLE_SLOTS='lots'"};
    for (size_t i = 0; i < 5; i++) {
        size_t hits = 0;
        for (size_t w = 0; w < n_warns; w++)
            hits += strstr(warns[w], named[i]) != NULL;
        ck_assert_msg(hits == 1, "%s named in %zu lines", named[i], hits);
    }
    ck_assert_int_eq(c.mode, BG_MODE_ENFORCE);
    ck_assert_int_eq(c.log, BG_LOG_FILE);
    ck_assert_str_eq(c.log_path, "/tmp/bg.log");
}
END_TEST

START_TEST(hostile_value_stays_one_line)
{
    char huge[4096];
    memset(huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    huge[10] = '\n';
    huge[11] = '\033';
    struct bg_config c = parse1(BINDGUARD_ENV_MODE, huge, 1);
    ck_assert_int_eq(c.mode, BG_MODE_ENFORCE);
    ck_assert_ptr_null(strchr(warns[0], '\n'));
    ck_assert_ptr_null(strchr(warns[0], '\033'));
    ck_assert_ptr_nonnull(strstr(warns[0], "xx??xx"));
    ck_assert_ptr_nonnull(strstr(warns[0], "...' is not valid (enforce, audit, off); "
                                           "using enforce"));
    ck_assert_uint_lt(strlen(warns[0]), 300);
}
END_TEST

/* config_get: the real environment, parsed once, warnings on stderr. */
static void *get_from_thread(void *arg)
{
    (void)arg;
    return (void *)config_get();
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(config_get_once)
{
    char path[] = "/tmp/bg-test-config-XXXXXX";
    int tmp = mkstemp(path);
    ck_assert_int_ge(tmp, 0);
    unlink(path);
    setenv(BINDGUARD_ENV_MODE, "audit", 1);
    setenv(BINDGUARD_ENV_TABLE_SLOTS, "7", 1);
    setenv(BINDGUARD_ENV_DEFAULT, "nope", 1);
    int saved = dup(STDERR_FILENO);
    dup2(tmp, STDERR_FILENO);

    pthread_t th[8];
    const struct bg_config *got[8];
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, get_from_thread, NULL), 0);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_join(th[i], (void **)&got[i]), 0);
    const struct bg_config *c = config_get();

    dup2(saved, STDERR_FILENO);
    close(saved);
    unsetenv(BINDGUARD_ENV_MODE);
    unsetenv(BINDGUARD_ENV_TABLE_SLOTS);
    unsetenv(BINDGUARD_ENV_DEFAULT);

    for (int i = 0; i < 8; i++)
        ck_assert_ptr_eq(got[i], c);
    ck_assert_int_eq(c->mode, BG_MODE_AUDIT);
    ck_assert_uint_eq(c->table_slots, 65536);
    ck_assert_int_eq(c->default_class, BG_DEFAULT_EXCLUSIVE);
    ck_assert_ptr_eq(config_get(), c);  /* cached: the environment is not read again */
    ck_assert_int_eq(config_get()->mode, BG_MODE_AUDIT);

    char out[2048] = {0};
    ck_assert_int_ge(pread(tmp, out, sizeof out - 1, 0), 0);
    close(tmp);
    ck_assert_uint_eq(count_lines(out), 2);
    ck_assert_ptr_nonnull(strstr(out, "bindguard: BINDGUARD_DEFAULT='nope' is not valid "
                                      "(exclusive, windows); using exclusive\n"));
    ck_assert_ptr_nonnull(strstr(out, "bindguard: BINDGUARD_TABLE_SLOTS='7' is not valid "
                                      "(16..4194304); using 65536\n"));
}
END_TEST

/* What the library's constructor does: the configuration is the environment as it was
 * then, whatever the program does to it before it first makes a socket. */
START_TEST(kept_environment_wins)
{
    setenv("BINDGUARD_MODEX", "off", 1);  /* a longer name is not BINDGUARD_MODE */
    setenv(BINDGUARD_ENV_MODE, "audit", 1);
    setenv(BINDGUARD_ENV_TABLE, "/bg-kept", 1);
    config_keep_environment();
    clearenv();
    setenv(BINDGUARD_ENV_MODE, "off", 1);
    setenv(BINDGUARD_ENV_TABLE_SLOTS, "32", 1);
    const struct bg_config *c = config_get();
    ck_assert_int_eq(c->mode, BG_MODE_AUDIT);
    ck_assert_str_eq(c->table, "/bg-kept");
    ck_assert_uint_eq(c->table_slots, 65536);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, defaults_when_unset);
    tcase_add_test(tc, empty_is_unset);
    tcase_add_test(tc, null_warn_still_counts);
    tcase_add_test(tc, profiles);
    tcase_add_test(tc, bad_profile);
    tcase_add_test(tc, modes);
    tcase_add_test(tc, bad_mode);
    tcase_add_test(tc, default_and_reuseaddr);
    tcase_add_test(tc, emulate);
    tcase_add_test(tc, force_exclusive);
    tcase_add_test(tc, table_slots);
    tcase_add_test(tc, lock_timeout);
    tcase_add_test(tc, table_names);
    tcase_add_test(tc, bad_table_names);
    tcase_add_test(tc, log_targets);
    tcase_add_test(tc, share_uids);
    tcase_add_test(tc, bad_share_uids);
    tcase_add_test(tc, one_line_per_bad_value);
    tcase_add_test(tc, hostile_value_stays_one_line);
    suite_add_tcase(s, tc);
    TCase *get = tcase_create("get");
    tcase_add_test(get, config_get_once);
    tcase_add_test(get, kept_environment_wins);
    suite_add_tcase(s, get);
    return s;
}

int main(void)
{
    return harness_run(suite());
}
