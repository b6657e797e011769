/* security source ABI: security-relevant syscalls (ptrace, bpf, mount, namespaces, privilege
 * changes, chmod, unlink, rename, memfd_create ...) as one record kind, taken at their exit
 * with the arguments from the saved user registers. Which syscall: the attach cookie, an index
 * into user space's table (sources/security/security_source.cpp). */
#ifndef SIGHTLINE_SECURITY_H
#define SIGHTLINE_SECURITY_H

#include "sightline/common.h"

#define SL_SEC_MAX_SYSCALLS 64

/* Per attached syscall: which arguments are user strings (1-based, 0: none). */
struct sl_sec_conf {
	__u8 str1;
	__u8 str2;
	__u8 pad[6];
};

struct sl_sec_event {
	struct sl_event_hdr hdr; /* kind SL_EV_SYSCALL */
	__u32 syscall;           /* index into user space's table */
	__u32 pad;
	__s64 ret;
	__u64 args[6];
	char path[SL_PATH_MAX];  /* string argument str1 */
	char path2[SL_PATH_MAX]; /* string argument str2 */
};

#endif
