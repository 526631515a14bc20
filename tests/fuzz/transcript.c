#include "transcript.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mode_names[N_MODES] = {"native", "off", "enforce"};

void transcript_parse(struct transcript *t, char *text, char *stderr_text, int status,
                      int n_ops)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < MAX_OPS; i++)
        t->entries[i] = -1;
    t->text = text;
    t->stderr_text = stderr_text;
    t->status = status;
    int last = -1;
    t->parsed = strdup(t->text);
    ck_assert(t->parsed);
    for (char *line = t->parsed; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        int idx;
        char *arrow = strstr(line, " => ");
        if (strncmp(line, "# log ", 6) == 0 && last < 0) {
            t->log_first = t->log_first ? t->log_first : line + 6;
            t->nlog++;
        } else if (strncmp(line, "# log ", 6) == 0) {
            /* Joined in place: the separator goes where the earlier line ended. */
            if (t->log[last])
                line[-1] = '\n';
            else
                t->log[last] = line + 6;
            t->nlog++;
        } else if (last >= 0 && sscanf(line, "# entries %d", &idx) == 1) {
            t->entries[last] = idx;
        } else if (arrow && sscanf(line, "%d ", &idx) == 1 && idx >= 0 && idx < n_ops) {
            t->res[idx] = arrow + 4;
            last = idx;
        }
        line = nl ? nl + 1 : NULL;
    }
}

void transcript_free(struct transcript *t)
{
    free(t->text);
    free(t->parsed);
    free(t->stderr_text);
}
