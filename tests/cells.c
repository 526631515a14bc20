/* cells - tests/data/bind-rules.tsv read into cells (cells.h). */
#include "cells.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *const opt_names[NOPT] = { "default", "reuseaddr", "exclusive" };
const char *const addr_names[NADDR] = { "wildcard", "specific", "specific2" };
const char *const verdict_names[4] = { "SUCCESS", "CHECK", "INUSE", "ACCESS" };

const struct profile cells_profiles[] = {
    { "ws2003", true, false, false }, { "vista", true, false, true },
    { "ws2008", true, false, true },  { "win7", true, false, true },
    { "xp", true, true, false },      { "nt4", true, true, true },
    { "win2000", true, true, true },  { "win95", false, false, false },
    { "win98", false, false, true },  { "winme", false, false, true },
    { "wsk", true, false, false },
};
const int cells_nprofiles = COUNT(cells_profiles);

static const char *const user_names[] = { "same", "different", "any" };

static int lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static const char *profile_name(const char *s)
{
    for (int i = 0; i < cells_nprofiles; i++)
        if (strcmp(cells_profiles[i].name, s) == 0)
            return cells_profiles[i].name;
    return NULL;
}

static void parse_row(char *line, int row, struct cell *c)
{
    char *f[9];
    int n = 0;
    snprintf(c->text, sizeof c->text, "%s", line);
    for (char *p = c->text; (p = strchr(p, '\t'));)
        *p = ' ';
    for (char *tok = strtok(line, "\t"); tok && n < 9; tok = strtok(NULL, "\t"))
        f[n++] = tok;
    ck_assert_msg(n == 8, "TSV row %d has %d fields: %s", row, n, c->text);
    int fo = lookup(opt_names, NOPT, f[2]), fa = lookup(addr_names, ADDR_SPECIFIC2, f[3]);
    int so = lookup(opt_names, NOPT, f[4]), sa = lookup(addr_names, ADDR_SPECIFIC2, f[5]);
    int v = lookup(verdict_names, COUNT(verdict_names), f[6]);
    int u = lookup(user_names, COUNT(user_names), f[1]);
    c->row = row;
    c->profile = profile_name(f[0]);
    ck_assert_msg(c->profile && fo >= 0 && fa >= 0 && so >= 0 && sa >= 0 && v >= 0 && u >= 0,
                  "TSV row %d not understood: %s", row, c->text);
    c->user = user_names[u];
    c->nobody = c->user == user_names[1];
    c->first = (struct side){ (enum opt)fo, (enum addr)fa };
    c->second = (struct side){ (enum opt)so, (enum addr)sa };
    c->verdict = (enum verdict)v;
}

struct cell cells_tsv[TSV_ROWS];

void cells_load_tsv(void)
{
    char path[512], line[LINE_LEN];
    harness_data_path("bind-rules.tsv", path, sizeof path);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0' || strncmp(line, "profile\t", 8) == 0)
            continue;
        ck_assert_msg(n < TSV_ROWS, "more than %d rows in %s", TSV_ROWS, path);
        parse_row(line, n + 1, &cells_tsv[n]);
        n++;
    }
    fclose(f);
    ck_assert_msg(n == TSV_ROWS, "%s: %d rows, expected %d", path, n, TSV_ROWS);
}

const struct profile *cells_profile_of(const char *name)
{
    for (int i = 0; i < cells_nprofiles; i++)
        if (strcmp(cells_profiles[i].name, name) == 0)
            return &cells_profiles[i];
    ck_abort_msg("unknown profile %s", name);
    return NULL;
}
