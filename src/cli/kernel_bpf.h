/* kernel_bpf - what kernel_bpf.c and kernel_bpf_read.c share: the pin paths, and
 * libbpf's messages kept for one clear line. Built only with the kernel backend. */
#ifndef BG_CLI_KERNEL_BPF_H
#define BG_CLI_KERNEL_BPF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bpf/libbpf.h>

#include "bpf/kmap.h"

/* libbpf's print callback: drops its lines, keeps the last complaint for `why`. */
int kbpf_quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap);
/* The pin of `what` ("", "prog_", "link_") + name under kernel_pin_dir(). */
void kbpf_pin_path(char *buf, size_t len, const char *what, const char *name);
/* Is the enabled link pinned? Then its cgroup id into *id. */
bool kbpf_link_cgroup(uint64_t *id);
/* The settings in a pinned program's .rodata, if of this build's KMAP_VERSION. */
bool kbpf_prog_settings(const char *prog_path, struct kmap_settings *out);

#endif
