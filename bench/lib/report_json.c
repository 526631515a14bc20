/* report_json - a paired bench's figures as one JSON object (scripts/bench collects
 * them into build/bench.json). */
#include "run.h"

#include <stdio.h>

#include "cli/json.h"

bool report_json(const struct run *r, const struct figures *f, const char *path)
{
    const struct bench *b = r->b;
    FILE *o = fopen(path, "w");
    if (!o)
        return false;
    struct json j;
    json_start(&j, o);
    json_object_begin(&j, NULL);
    json_string(&j, "bench", b->name);
    json_string(&j, "what", b->what);
    json_int(&j, "rounds", b->rounds);
    json_array_begin(&j, "rows");
    for (size_t i = 0; i < b->n_rows; i++) {
        const struct bench_row *row = &b->rows[i];
        const char *unit = row->unit == BENCH_PER_S ? "per_s" : "ns";
        char key[32], target[48];
        json_object_begin(&j, NULL);
        json_string(&j, "name", row->name);
        json_string(&j, "unit", unit);
        for (int s = 0; s < SIDES; s++) {
            snprintf(key, sizeof key, "%s_%s", bench_side_name[s], unit);
            json_double(&j, key, f[i].side[s]);
        }
        json_double(&j, "ratio", f[i].ratio);
        json_double(&j, "ratio_q1", f[i].q1);
        json_double(&j, "ratio_q3", f[i].q3);
        if (row->base) {
            json_string(&j, "growth_base", row->base->name);
            json_double(&j, "growth", f[i].growth[1]);
            json_double(&j, "native_growth", f[i].growth[0]);
            json_double(&j, "ratio_growth", f[i].ratio_growth);
        }
        report_target(row, target, sizeof target);
        json_string(&j, "target", row->goal == GOAL_NONE ? NULL : target);
        if (f[i].met < 0)
            json_null(&j, "met");
        else
            json_bool(&j, "met", f[i].met);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_array_begin(&j, "notes");
    for (int i = 0; i < r->n_notes; i++)
        json_string(&j, NULL, r->notes[i]);
    json_array_end(&j);
    json_object_end(&j);
    json_finish(&j);
    return fclose(o) == 0;
}
