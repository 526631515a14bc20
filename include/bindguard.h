/* bindguard.h - public constants of bindguard (LD_PRELOAD exclusive-address rules).
 *
 * Self-contained and usable from C and C++. A program that includes this header and
 * sets SO_EXCLUSIVEADDRUSE gets ENOPROTOOPT from a plain kernel (the value is negative,
 * which Linux rejects), so running without the shim fails loudly instead of silently
 * unprotected. */
#ifndef BINDGUARD_H
#define BINDGUARD_H

#include <sys/socket.h>

#define BINDGUARD_VERSION "0.1.0"

/* As in Winsock: the bitwise complement of SO_REUSEADDR (on Linux, -3). */
#ifndef SO_EXCLUSIVEADDRUSE
#define SO_EXCLUSIVEADDRUSE ((int)(~SO_REUSEADDR))
#endif

/* Environment variables read once by libbindguard.so (see libbindguard(7)). */
#define BINDGUARD_ENV_PROFILE         "BINDGUARD_PROFILE"         /* ws2003 (default), xp, wsk, win95 ... win7 */
#define BINDGUARD_ENV_MODE            "BINDGUARD_MODE"            /* enforce (default), audit, off */
#define BINDGUARD_ENV_DEFAULT         "BINDGUARD_DEFAULT"         /* exclusive (default), windows */
#define BINDGUARD_ENV_REUSEADDR       "BINDGUARD_REUSEADDR"       /* linux (default), windows */
#define BINDGUARD_ENV_EMULATE         "BINDGUARD_EMULATE"         /* 0 (default), 1 */
#define BINDGUARD_ENV_TABLE           "BINDGUARD_TABLE"           /* prefix: shm name or absolute path, + ".<uid>"; default /bindguard-v3 */
#define BINDGUARD_ENV_TABLE_SLOTS     "BINDGUARD_TABLE_SLOTS"     /* capacity when creating the table; default 65536 */
#define BINDGUARD_ENV_LOCK_TIMEOUT_MS "BINDGUARD_LOCK_TIMEOUT_MS" /* bounded lock wait; default 1000 */
#define BINDGUARD_ENV_INTENT_WAIT_MS  "BINDGUARD_INTENT_WAIT_MS"  /* wait on another user's earlier bind; default 5 */
#define BINDGUARD_ENV_LOG             "BINDGUARD_LOG"             /* stderr (default), syslog, off, or /absolute/file */
#define BINDGUARD_ENV_SHARE_UIDS      "BINDGUARD_SHARE_UIDS"      /* wsk: uids allowed past CHECK cells, "1000,1001" */
#define BINDGUARD_ENV_FORCE_EXCLUSIVE "BINDGUARD_FORCE_EXCLUSIVE" /* 0 (default), 1: every socket binds exclusive */
#define BINDGUARD_ENV_ACTIVE          "BINDGUARD_ACTIVE"          /* set to 1 by `bindguard run`/`shell` */
#define BINDGUARD_ENV_VALIDATED       "BINDGUARD_VALIDATED"       /* set by `bindguard run`/`shell`/`audit`: bad values already reported */

/* The name carries the table ABI (table.h TABLE_ABI_VERSION): after an upgrade, new
 * processes start a fresh table instead of refusing to use the old one. */
#define BINDGUARD_DEFAULT_TABLE "/bindguard-v3"

#endif /* BINDGUARD_H */
