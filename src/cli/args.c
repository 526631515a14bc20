/* args - the option loop and the values every command shares.
 *
 * getopt's own messages are turned off: they start with argv[0] (often a long path) and
 * some take two lines. Every bad argument here is one "bindguard: " line and exit 2. */
#include "cli.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bindguard.h"
#include "parse.h"
#include "policy.h"
#include "rules/class.h"
#include "text.h"

const struct cli_command *cli_current;

static void vtell(FILE *out, const char *fmt, va_list ap)
{
    char line[1024];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    /* Names and values from outside (a command, a table name) are in lines (text.h). */
    text_defang(line, n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    if (cli_current)
        fprintf(out, "bindguard: %s: %s\n", cli_current->name, line);
    else
        fprintf(out, "bindguard: %s\n", line);
}

void cli_tell(FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vtell(out, fmt, ap);
    va_end(ap);
}

int cli_say(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vtell(stderr, fmt, ap);
    va_end(ap);
    return rc;
}

static bool put_env(const char *name, const char *value)
{
    if (setenv(name, value, 1) == 0)
        return true;
    cli_fail("cannot set %s: %s", name, strerror(errno));
    return false;
}

static bool set_profile(const char *value)
{
    if (!policy_profile(value)) {
        cli_usage("unknown profile '%s' (valid: %s)", value, policy_profile_names());
        return false;
    }
    return put_env(BINDGUARD_ENV_PROFILE, value);
}

static bool set_table(const char *value)
{
    const char *wrong = parse_table_name(value);
    if (wrong) {
        cli_usage("table name '%s' %s", value, wrong);
        return false;
    }
    if (strlen(value) >= CONFIG_PATH_MAX) {
        cli_usage("table name too long (at most %d bytes)", CONFIG_PATH_MAX - 1);
        return false;
    }
    return put_env(BINDGUARD_ENV_TABLE, value);
}

/* One getopt_long step; common options are applied here and reported as 0. */
static int next_opt(const struct cli_command *cmd, int argc, char **argv, const char *spec,
                    const struct option *longopts)
{
    int c = getopt_long(argc, argv, spec, longopts, NULL);
    const char *opt = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    switch (c) {
    case 'h':
        fputs(cmd->usage, stdout);
        return CLI_OPT_HELP;
    case CLI_OPT_TABLE:
        return set_table(optarg) ? 0 : CLI_OPT_BAD;
    case CLI_OPT_PROFILE:
        return set_profile(optarg) ? 0 : CLI_OPT_BAD;
    case '?':
        if (strncmp(opt, "--", 2) == 0 && strchr(opt, '='))
            cli_usage("option '%.*s' takes no value", (int)strcspn(opt, "="), opt);
        else if (optopt && strncmp(opt, "--", 2) != 0)
            cli_usage("unknown option '-%c' (see bindguard %s --help)", optopt, cmd->name);
        else
            cli_usage("unknown option '%s' (see bindguard %s --help)", opt, cmd->name);
        return CLI_OPT_BAD;
    case ':':
        cli_usage("option '%s' needs a value", opt);
        return CLI_OPT_BAD;
    default:
        return c;
    }
}

int cli_getopt(const struct cli_command *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    /* ':' first (after a '+') makes getopt tell a missing value from an unknown option. */
    char spec[64];
    bool stop = shortopts[0] == '+';
    snprintf(spec, sizeof spec, "%s:h%s", stop ? "+" : "", shortopts + stop);
    opterr = 0;
    int c;
    while ((c = next_opt(cmd, argc, argv, spec, longopts)) == 0)
        ;
    return c;
}

int cli_no_operands(int argc, char **argv)
{
    if (optind < argc)
        return cli_usage("unexpected argument '%s'", argv[optind]);
    return -1;
}

int cli_opt_exit(int opt)
{
    return opt == CLI_OPT_HELP ? 0 : CLI_EXIT_USAGE;
}

bool cli_set_default_class(const char *value)
{
    if (!parse_caseeq(value, "exclusive") && !parse_caseeq(value, "windows")) {
        cli_usage("--default must be exclusive or windows, not '%s'", value);
        return false;
    }
    return put_env(BINDGUARD_ENV_DEFAULT, value);
}

bool cli_parse_port(const char *s, uint16_t *port)
{
    uint32_t v;
    if (!parse_u32_str(s, 1, 65535, &v))
        return false;
    *port = (uint16_t)v;
    return true;
}

bool cli_parse_endpoint(const char *s, struct bg_addr *a, uint8_t *proto)
{
    char buf[128];
    if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf)
        return false;
    *proto = IPPROTO_TCP;
    char *slash = strrchr(buf, '/');
    if (slash) {
        *slash = '\0';
        if (parse_caseeq(slash + 1, "udp"))
            *proto = IPPROTO_UDP;
        else if (!parse_caseeq(slash + 1, "tcp"))
            return false;
    }
    /* "8000", ":8000": every address on both IP stacks, as a dual-stack [::] bind. */
    const char *port = buf[0] == ':' ? buf + 1 : buf;
    if (*port && port[strspn(port, "0123456789")] == '\0') {
        char any[sizeof buf + 8];
        snprintf(any, sizeof any, "[::]:%s", port);
        return address_parse(any, a) == 0;
    }
    return address_parse(buf, a) == 0;
}

const char *cli_proto_name(uint8_t proto)
{
    return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

const char *cli_errno_name(int err)
{
    if (err == 0)
        return "-";
    const char *name = strerrorname_np(err);
    return name ? name : "?";
}

void cli_format_since(int64_t since, char *buf, size_t len)
{
    time_t t = (time_t)since, now = time(NULL);
    struct tm tm, today;
    if (since <= 0 || !localtime_r(&t, &tm) || !localtime_r(&now, &today)) {
        snprintf(buf, len, "-");
        return;
    }
    if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday)
        strftime(buf, len, "%H:%M:%S", &tm);
    else
        strftime(buf, len, "%Y-%m-%d", &tm);
}

enum bg_class cli_unmodified_class(const struct bg_config *cfg)
{
    struct bg_classing c = config_classing(cfg);
    struct bg_sockopts none = { 0 };
    return rules_class(&c, &none);
}
