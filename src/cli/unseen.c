/* unseen - before run, shell or audit start a program, say if the library can't see its
 * binds (elfkind.c decides: static, Go, setuid/setgid/setcap). A file elfkind can't read
 * or doesn't understand gets no warning: the exec will say what it has to. */
#include "cli.h"

#include <limits.h>
#include <stdlib.h>

#include "elfkind.h"

void cli_warn_unseen(const char *cmd, bool shell)
{
    char path[PATH_MAX], why[256];
    struct elfkind *k = malloc(sizeof *k);
    if (!k)
        return;
    const char *blocker = NULL;
    if (elfkind_which(cmd, path, sizeof path) && elfkind_inspect(path, k, why, sizeof why) == 0 &&
        k->elf)
        blocker = elfkind_preload_blocker(k);
    if (blocker)
        cli_say(0, "warning: %s: %s; bindguard cannot see %sbinds%s (the kernel backend can: "
                "`bindguard run --kernel`; see `bindguard doctor %s`)", path, blocker,
                shell ? "the shell's own " : "its ",
                shell ? ", but the programs it starts are still protected"
                      : ", so it runs unprotected", path);
    free(k);
}
