/* model - what the enforcing run of a fuzz case must do, built op by op from that run's
 * own results (test_fuzz).
 *
 * It knows which socket each slot refers to (a dup shares one), the options the kernel
 * accepted, SO_EXCLUSIVEADDRUSE, which sockets are bound, and which bindings bindguard
 * must hold. Where bindguard answers by itself (SO_EXCLUSIVEADDRUSE, the EINVAL between
 * it and the sharing options, a refused bind) it gives the exact answer; everything else
 * the kernel decides. Ports are numbered as offsets into the range, plus one.
 *
 * Tainting: a bind refused under enforce that native let through leaves the two runs'
 * kernels in different states, on that socket and that port only. Such sockets and ports
 * are tainted; calls touching them are no longer compared with native. */
#ifndef BG_FUZZ_MODEL_H
#define BG_FUZZ_MODEL_H

#include "address.h"
#include "case.h"
#include "policy.h"

enum obj_kind { OBJ_PIPE, OBJ_UNIX, OBJ_INET, OBJ_OTHER };

/* One open file description of the enforcing run, as far as bindguard's rules go. */
struct model_obj {
    uint8_t kind;             /* enum obj_kind */
    int family;
    uint8_t proto;
    bool reuseaddr, reuseport, v6only, excl;
    bool kbound;              /* the kernel has bound it (bind, or listen's autobind) */
    bool entry;               /* bindguard must hold a binding for it */
    bool eph;                 /* that binding is on a port the kernel picked */
    struct bg_addr addr;      /* its address; port = offset in the range + 1 */
    enum bg_class cls;
    int bound_at;             /* the op that made the binding */
    int refs;                 /* slots referring to it */
    bool tainted;             /* native's socket differs from this one */
    unsigned ports;           /* range ports it ever tried to bind, in either run */
};

struct model {
    const struct case_cfg *cfg;
    const struct bg_profile *profile;
    struct model_obj obj[MAX_OPS + 2];
    int n_obj;
    int slot[SLOTS];          /* index into obj, or -1 */
    unsigned port_taint;
    bool v6only_default;
};

/* The bindings that deny a bind, by model_judge. */
struct model_denial {
    enum bg_verdict v;        /* the most severe verdict of any binding on the port */
    const struct model_obj *by[MAX_OPS + 2];
    enum bg_verdict each[MAX_OPS + 2];
    int n;
};

/* Before the first op: the runner's pipe and UNIX socket, empty slots. */
void model_init(struct model *m, const struct case_cfg *cfg);
/* The object an operand refers to; NULL for an empty slot or a number that is no file. */
struct model_obj *model_fd(struct model *m, struct fdref f);
/* Its class, from what the socket really carries (doc/design.md "Option mapping"). */
enum bg_class model_class(const struct model *m, const struct model_obj *o);
/* Would the kernel bind o to this op's address (conflicts aside)? Then bindguard must
 * judge it, and *out is the binding (port 0 for port 0). */
bool model_kernel_takes(const struct model_obj *o, const struct op *op, struct bg_addr *out);
/* Judge `want` of class cls for o against every binding the model knows. */
void model_judge(const struct model *m, const struct model_obj *o, const struct bg_addr *want,
                 enum bg_class cls, uint8_t proto, struct model_denial *d);
/* Is op about SO_EXCLUSIVEADDRUSE? */
bool model_exclusive_opt(const struct op *op);
/* What bindguard itself must answer to a set/getsockopt on o, where it answers (true,
 * the result as the runner prints it in want). */
bool model_opt_answer(const struct model *m, const struct op *op, const struct model_obj *o,
                      char *want, size_t len);
/* The runs differ on o (may be NULL) and the port op binds: taint both. */
void model_taint(struct model *m, struct model_obj *o, const struct op *op);
/* Does op touch a tainted socket or port? */
bool model_tainted(const struct model *m, const struct model_obj *o, const struct op *op);
/* After op number i, as the enforcing run answered it (res), on o; bound: the binding if
 * model_kernel_takes said the kernel would bind. */
void model_apply(struct model *m, int i, const struct op *op, struct model_obj *o,
                 const char *res, const struct bg_addr *bound);

#endif
