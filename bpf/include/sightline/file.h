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

/* Reads, writes and syncs of regular files slower than a threshold (fsslower, ext4slower): the
 * syscall's enter keeps its start, its exit sends a record only past the threshold. */
enum sl_io_syscall {
	SL_IO_READ = 1,
	SL_IO_WRITE = 2,
	SL_IO_PREAD64 = 3,
	SL_IO_PWRITE64 = 4,
	SL_IO_READV = 5,
	SL_IO_WRITEV = 6,
	SL_IO_FSYNC = 7,
	SL_IO_FDATASYNC = 8,
};
#define SL_IO_NAME 64
struct sl_slow_io_event {
	struct sl_event_hdr hdr;
	__s64 ret;            /* bytes, or -errno */
	__u64 latency_ns;     /* enter to exit */
	__s64 offset;         /* the file position it started at; -1 for a sync */
	__s32 fd;
	__u16 syscall;        /* enum sl_io_syscall */
	__u16 pad;
	char fstype[16];      /* the file system's type: ext4, xfs, tmpfs ... */
	char name[SL_IO_NAME]; /* the file's name: its last component, as fsslower shows it */
};

/* Short-lived files (filelife): a regular file's inode allocated (ext4:ext4_allocate_inode)
 * and later unlinked (ext4:ext4_unlink_enter), with the path unlink was given. ext4 only: other
 * file systems have no such tracepoints (kprobes on vfs_create/vfs_unlink would serve them). */
struct sl_file_life_event {
	struct sl_event_hdr hdr;  /* the task that deleted it */
	__u64 age_ns;             /* inode allocated to unlinked */
	__u64 ino;
	__s64 size;               /* its size when unlinked */
	__u32 dev;                /* the kernel's dev_t: major << 20 | minor */
	__u32 pad;
	char path[SL_PATH_MAX];   /* as given to unlink/unlinkat (relative to its directory fd) */
};

/* mount(2) and umount2(2) (mountsnoop): one record at the exit, the arguments saved at the
 * enter (mounts are rare: one small map, every kernel). */
#define SL_MOUNT_FSTYPE 32
#define SL_MOUNT_DATA 64
enum sl_mount_call {
	SL_MOUNT_CALL_MOUNT = 1,
	SL_MOUNT_CALL_UMOUNT = 2,
};
struct sl_mount_event {
	struct sl_event_hdr hdr;
	__s64 ret;
	__u64 flags;    /* MS_* (mount), MNT_* / UMOUNT_* (umount) */
	__u64 mnt_ns;   /* the caller's mount namespace (inode number) */
	__u32 call;     /* enum sl_mount_call */
	__u32 pad;
	char fstype[SL_MOUNT_FSTYPE];
	char data[SL_MOUNT_DATA]; /* the options string, cut */
	char source[SL_PATH_MAX];
	char target[SL_PATH_MAX];
};

#endif
