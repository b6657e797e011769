/* Kernel <-> user ABI of the enforcement programs (bpf/enforce.bpf.c): rules with `action: kill`
 * compiled into maps, and the record of each action taken.
 *
 * A rule is one bit (its index among the acting rules). A rule's condition is a conjunction of
 * dimensions (the opened file's path, the executable's path, the task's name, its uid); each
 * dimension a rule constrains is a set of values it must be in (pos) or must not be in (neg).
 * Each dimension's map gives, for a value, the rules that list it in their pos set and in their
 * neg set; `sl_enf_dim` gives the rules with no pos set there and the rules that constrain it at
 * all. The kernel keeps bits = hook_rules & for each constrained dimension ((pos | nopos) & ~neg),
 * and acts on the lowest bit left. Kill rules act at the tracepoints, deny rules in the BPF LSM
 * hooks file_open and bprm_check_security (where the kernel runs BPF LSM). Paths are LPM-trie keys: a prefix rule (startswith) is the prefix's bytes, an exact
 * one (=, in) the path and its NUL; user space stores in each entry the union of every entry
 * that is a prefix of it, so the longest match carries them all. */
#ifndef SIGHTLINE_ENFORCE_H
#define SIGHTLINE_ENFORCE_H

#include "sightline/common.h"

#define SL_ENF_MAX_RULES 64
#define SL_ENF_PATH 256        /* the LPM trie's largest key: longer paths match on their first 256 bytes */
#define SL_ENF_MAX_PATHS 4096  /* entries of each path trie */
#define SL_ENF_MAX_VALUES 4096 /* entries of the name and uid maps */
#define SL_ENF_DEPTH 32        /* path components walked; deeper files match on their last 32 */
#define SL_ENF_LEAF 64         /* the last component's bytes in the leaf filter */

enum sl_enf_hook {
	SL_ENF_HOOK_OPEN = 0, /* open, openat, openat2, creat returned a file */
	SL_ENF_HOOK_EXEC = 1, /* an exec replaced the image (before its first instruction) */
	SL_ENF_HOOK_CONNECT = 2, /* connect() to an IPv4/IPv6 address is called */
	SL_ENF_HOOKS = 3,
};

enum sl_enf_outcome {
	SL_ENF_KILLED = 1,     /* SIGKILL sent to the process */
	SL_ENF_WOULD_KILL = 2, /* dry run (enforce: false): reported only */
	SL_ENF_FAILED = 3,     /* bpf_send_signal refused (err) */
	SL_ENF_DENIED = 4,     /* the BPF LSM program made the open or exec fail with EPERM */
	SL_ENF_WOULD_DENY = 5, /* dry run of a deny */
};

struct sl_enf_bits {
	__u64 pos; /* rules that list this value (or a prefix of it) */
	__u64 neg; /* rules that exclude it */
};

struct sl_enf_dim {
	__u64 nopos;       /* rules with no set of values the dimension must be in */
	__u64 constrained; /* rules that constrain it at all (a value lookup is needed for them) */
};

struct sl_enf_conf {
	__u64 hook_rules[SL_ENF_HOOKS];
	__u64 dry_run; /* rules that report what they would do */
	__u64 deny;    /* rules that deny (BPF LSM programs); the others kill (tracepoints) */
	struct sl_enf_dim path, exe, comm, uid, port, addr;
	__u32 generation; /* the rule set these maps hold; records carry it */
	__u32 leaf_filter; /* open rules list exact paths only: a name not in enf_leaves is not walked */
};

struct sl_enf_leaf_key {
	char name[SL_ENF_LEAF];
};

struct sl_enf_path_key {
	__u32 prefixlen; /* bits */
	char data[SL_ENF_PATH];
};

/* A remote address: IPv6, or IPv4 mapped (::ffff:a.b.c.d); prefixlen in bits. */
struct sl_enf_addr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct sl_enf_comm_key {
	char comm[SL_COMM_LEN];
};

struct sl_enf_event {
	struct sl_event_hdr hdr;
	__u32 generation;
	__u16 rule; /* bit index */
	__u8 hook;  /* enum sl_enf_hook */
	__u8 outcome; /* enum sl_enf_outcome */
	__s32 err;  /* bpf_send_signal's error with SL_ENF_FAILED */
	__s32 fd;   /* open: the descriptor the process would have read */
	__u8 path_truncated, exe_truncated;
	__u16 rport;    /* connect: the port, host order */
	__u16 family;   /* connect: AF_INET or AF_INET6 */
	__u16 pad;
	__u8 raddr[16]; /* connect: the address (IPv4 in its first 4 bytes) */
	char path[SL_ENF_PATH]; /* open: the file's full path; exec: the new executable's */
	char exe[SL_ENF_PATH];  /* the executable's full path */
};

#endif
