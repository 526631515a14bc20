/* cells - tests/data/bind-rules.tsv as cells: what a first and a second bind set, and
 * what Windows answers the second. Shared by the suites that drive every cell with real
 * processes (test_cells: the library; test_kernel_backend: the kernel backend). */
#ifndef BG_TEST_CELLS_H
#define BG_TEST_CELLS_H

#include <stdbool.h>

enum { TSV_ROWS = 144, ROWS_PER_TABLE = 36, LINE_LEN = 256 };

enum opt { OPT_DEFAULT, OPT_REUSEADDR, OPT_EXCLUSIVE, NOPT };
enum addr { ADDR_WILDCARD, ADDR_SPECIFIC, ADDR_SPECIFIC2, NADDR };
/* The TSV's verdicts, then V_OK: the bind must work whatever (Specific2). */
enum verdict { V_SUCCESS, V_CHECK, V_INUSE, V_ACCESS, V_OK };

extern const char *const opt_names[NOPT];
/* The TSV names only the first two; specific2 is 127.0.0.2 beside a first on 127.0.0.1. */
extern const char *const addr_names[NADDR];
extern const char *const verdict_names[4];

/* doc/design.md "Profiles": who has SO_EXCLUSIVEADDRUSE, and where only root may set it.
 * Written out here rather than asked of policy.c, which is what is under test. An alias
 * has the same rules and option support as the entry before it. */
struct profile {
    const char *name;
    bool has_exclusive, needs_root, alias;
};
extern const struct profile cells_profiles[];
extern const int cells_nprofiles;
const struct profile *cells_profile_of(const char *name);  /* aborts the test if unknown */

struct side {
    enum opt opt;
    enum addr addr;
};

struct cell {
    int row;                /* 1-based TSV data row; 0 for cells made up here */
    char text[LINE_LEN];    /* for messages */
    const char *profile;
    const char *user;       /* the TSV's: same, different or any */
    bool nobody;            /* the second binds as `nobody` */
    struct side first, second;
    enum verdict verdict;
};

/* Every row of the TSV, in order (the test fails if it can't be read in full). */
extern struct cell cells_tsv[TSV_ROWS];
void cells_load_tsv(void);

#endif
