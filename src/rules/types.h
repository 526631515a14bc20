/* rules/types - the few types and constants the rule book needs, without libc.
 *
 * The rule book is compiled into the preloaded library, the CLI and the kernel
 * backend's BPF object. BPF C cannot include glibc headers (they pull in
 * gnu/stubs-32.h), so nothing under src/rules/ includes anything outside src/rules/:
 * fixed-width types come from the compiler's own macros, and the two address families
 * are spelled out (checked against <sys/socket.h> where libc is at hand: policy.c).
 * Truth values are plain `_Bool`, which every dialect involved spells the same. */
#ifndef BG_RULES_TYPES_H
#define BG_RULES_TYPES_H

typedef __UINT8_TYPE__  bg_u8;
typedef __UINT16_TYPE__ bg_u16;
typedef __UINT32_TYPE__ bg_u32;
typedef __UINT64_TYPE__ bg_u64;

enum { BG_AF_INET = 2, BG_AF_INET6 = 10 };   /* AF_INET, AF_INET6 on Linux */
enum { BG_PROTO_TCP = 6, BG_PROTO_UDP = 17 }; /* IPPROTO_TCP, IPPROTO_UDP */

/* Every function of the rule book is inlined where it is called: the kernel backend
 * calls them while holding a bpf_spin_lock, where the verifier allows no calls. */
#define BG_RULES_INLINE static inline __attribute__((always_inline))

#define BG_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#endif
