/* file source ABI: open-family syscalls, one record each when the result is known; stat-family
 * ones (statsnoop's: stat, lstat, newfstatat, statx, statfs) in the same record, kind
 * SL_EV_STAT, when asked. */
#ifndef SIGHTLINE_FILE_H
#define SIGHTLINE_FILE_H

#include "sightline/common.h"

enum sl_open_syscall {
	SL_SYS_OPEN = 1,
	SL_SYS_OPENAT = 2,
	SL_SYS_OPENAT2 = 3,
	SL_SYS_CREAT = 4,
	SL_SYS_STAT = 5,       /* newstat; the first of the stat family (SL_EV_STAT) */
	SL_SYS_LSTAT = 6,      /* newlstat */
	SL_SYS_FSTATAT = 7,    /* newfstatat */
	SL_SYS_STATX = 8,
	SL_SYS_STATFS = 9,
};

struct sl_open_event {
	struct sl_event_hdr hdr;
	__s64 ret;           /* fd, or -errno */
	__u64 flags;         /* O_* flags (open_how.flags for openat2); stat: AT_* flags */
	__u32 mode;
	__s32 dirfd;         /* AT_FDCWD (-100) for open/creat */
	__u16 syscall;       /* enum sl_open_syscall */
	__u8 path_truncated;
	__u8 pad[5];
	char path[SL_PATH_MAX];
};

#endif
