/* libc - the one table of libc's functions that bindguard calls (libc.h). */
#include "libc.h"

#include <dlfcn.h>

struct libc_symbols libc_symbols;
char libc_absent;

/* Set while this thread is inside dlsym: a call it makes comes back here, and must take
 * the raw system call rather than look up again. */
static __thread int in_dlsym __attribute__((tls_model("initial-exec")));

/* Threads racing here store the same answer. */
__attribute__((noinline)) void *libc_lookup(void **slot, const char *name)
{
    if (in_dlsym)
        return NULL;
    in_dlsym++;
    void *fn = dlsym(RTLD_NEXT, name);
    in_dlsym--;
    __atomic_store_n(slot, fn ? fn : (void *)&libc_absent, __ATOMIC_RELEASE);
    return fn;
}

/* Writable data, not a literal: literals live in .rodata, a page nothing else reads at
 * load, and its first read is a page fault that costs more than the whole constructor. */
static char close_name[] = "close";

void libc_resolve_at_load(void)
{
    libc_slot((void **)&libc_symbols.close, close_name);
}
