/* file source: open, openat, openat2, creat; one record per call once its result is known. The
 * stat family (stat, lstat, newfstatat, statx, statfs: statsnoop's) the same way, as stat
 * records, when asked (their programs are not loaded otherwise).
 *
 * Two ways to meet the arguments at the exit, chosen at load time (features):
 * - regs (kernel >= 5.15, bpf_task_pt_regs): sys_exit_* alone reads the arguments from the
 *   task's saved user registers. One program per call, no map: the cheap path.
 * - paired: sys_enter_* saves the arguments in `opens` (per thread, bounded, overflow counted)
 *   and sys_exit_* takes them back (libbpf-tools' opensnoop shape).
 * Either way the exit reads the path from user memory (faulted in by the syscall itself),
 * builds the record in the ring buffer and submits it with a batched wakeup.
 * Bounds: path SL_PATH_MAX bytes (longer ones flagged), SL_MAX_INFLIGHT_OPENS pairs.
 */
#include "common.bpf.h"
#include "sightline/file.h"
#include "sock.bpf.h"

SL_BTF_TYPE(sl_open_event);
SL_BTF_TYPE(sl_mount_event);
SL_BTF_TYPE(sl_slow_io_event);
SL_BTF_TYPE(sl_file_life_event);

#define SL_MAX_INFLIGHT_OPENS 16384
#define SL_O_CREAT 0100
#define SL_O_WRONLY 01
#define SL_O_TRUNC 01000
#define SL_AT_FDCWD -100


struct open_args {
	__u64 fname;
	__u64 flags;
	__u32 mode;
	__s32 dirfd;
	__u16 syscall;
	__u16 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_MAX_INFLIGHT_OPENS);
	__type(key, __u32);
	__type(value, struct open_args);
} opens SEC(".maps");

static __always_inline int open_enter(const char *fname, int dirfd, __u64 flags, __u32 mode,
				      __u16 sys)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	__u32 tid = (__u32)t.pid_tgid;
	struct open_args a = {
		.fname = (__u64)fname, .flags = flags, .mode = mode, .dirfd = dirfd, .syscall = sys,
	};
	if (SL_CHECK(SL_H_MAP_UPDATE, bpf_map_update_elem(&opens, &tid, &a, BPF_ANY)))
		sl_count(SL_STAT_PAIR_LOST);
	return 0;
}

static __always_inline void open_emit(void *ctx, long ret, const struct open_args *a, struct sl_task *t)
{
	struct sl_open_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return;
	sl_fill_hdr(&e->hdr, a->syscall >= SL_SYS_STAT ? SL_EV_STAT : SL_EV_OPEN, t);
	e->ret = ret;
	e->flags = a->flags;
	e->mode = a->mode;
	e->dirfd = a->dirfd;
	e->syscall = a->syscall;
	e->path_truncated = 0;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	const char *fname = (const char *)a->fname;
	long n = sl_read_user_str(e->path, sizeof(e->path), fname);
	if (n < 0) {
		e->path[0] = 0;
	} else if (n == sizeof(e->path)) {
		char next = 0;
		sl_read_user(&next, 1, fname + sizeof(e->path) - 1);
		e->path_truncated = next != 0;
	}
	sl_submit(ctx, e, sizeof(*e));
}

static __always_inline int open_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct open_args *a = bpf_map_lookup_elem(&opens, &tid);
	if (!a)
		return 0;
	if (!targ_failed || ret < 0) {
		struct sl_task t;
		sl_task_init(&t);
		open_emit(ctx, ret, a, &t);
	}
	bpf_map_delete_elem(&opens, &tid);
	return 0;
}

/* The syscall's arguments from the saved user registers (unchanged by these syscalls; on
 * arm64 the first comes from orig_x0, which the macros know). regs is a BTF pointer: the
 * reads are plain loads. */
static __always_inline int open_exit_regs(void *ctx, long ret, __u16 sys)
{
	if (targ_failed && ret >= 0)
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t.btf);
	struct open_args a = {.syscall = sys, .dirfd = SL_AT_FDCWD};
	switch (sys) {
	case SL_SYS_OPEN:
		a.fname = PT_REGS_PARM1_SYSCALL(regs);
		a.flags = PT_REGS_PARM2_SYSCALL(regs);
		a.mode = PT_REGS_PARM3_SYSCALL(regs);
		break;
	case SL_SYS_OPENAT:
		a.dirfd = PT_REGS_PARM1_SYSCALL(regs);
		a.fname = PT_REGS_PARM2_SYSCALL(regs);
		a.flags = PT_REGS_PARM3_SYSCALL(regs);
		a.mode = PT_REGS_PARM4_SYSCALL(regs);
		break;
	case SL_SYS_OPENAT2: {
		struct open_how how = {};
		a.dirfd = PT_REGS_PARM1_SYSCALL(regs);
		a.fname = PT_REGS_PARM2_SYSCALL(regs);
		sl_read_user(&how, sizeof(how), (void *)PT_REGS_PARM3_SYSCALL(regs));
		a.flags = how.flags;
		a.mode = how.mode;
		break;
	}
	case SL_SYS_CREAT:
		a.fname = PT_REGS_PARM1_SYSCALL(regs);
		a.mode = PT_REGS_PARM2_SYSCALL(regs);
		a.flags = SL_O_CREAT | SL_O_WRONLY | SL_O_TRUNC;
		break;
	case SL_SYS_STAT:
	case SL_SYS_LSTAT:
	case SL_SYS_STATFS:
		a.fname = PT_REGS_PARM1_SYSCALL(regs);
		break;
	case SL_SYS_FSTATAT: /* (dirfd, path, buf, flags) */
		a.dirfd = PT_REGS_PARM1_SYSCALL(regs);
		a.fname = PT_REGS_PARM2_SYSCALL(regs);
		a.flags = PT_REGS_PARM4_SYSCALL(regs);
		break;
	case SL_SYS_STATX: /* (dirfd, path, flags, mask, buf) */
		a.dirfd = PT_REGS_PARM1_SYSCALL(regs);
		a.fname = PT_REGS_PARM2_SYSCALL(regs);
		a.flags = PT_REGS_PARM3_SYSCALL(regs);
		break;
	}
	open_emit(ctx, ret, &a, &t);
	return 0;
}

SEC("tp/syscalls/sys_enter_open")
int sl_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[0], SL_AT_FDCWD, ctx->args[1], ctx->args[2],
			  SL_SYS_OPEN);
}

SEC("tp/syscalls/sys_enter_openat")
int sl_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[1], (int)ctx->args[0], ctx->args[2], ctx->args[3],
			  SL_SYS_OPENAT);
}

SEC("tp/syscalls/sys_enter_openat2")
int sl_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};
	sl_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return open_enter((const char *)ctx->args[1], (int)ctx->args[0], how.flags, (__u32)how.mode,
			  SL_SYS_OPENAT2);
}

SEC("tp/syscalls/sys_enter_creat")
int sl_enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[0], SL_AT_FDCWD,
			  SL_O_CREAT | SL_O_WRONLY | SL_O_TRUNC, ctx->args[1], SL_SYS_CREAT);
}

SEC("tp/syscalls/sys_exit_open")
int sl_exit_open(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_openat")
int sl_exit_openat(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_openat2")
int sl_exit_openat2(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_creat")
int sl_exit_creat(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_open")
int sl_rexit_open(struct trace_event_raw_sys_exit *ctx) { return open_exit_regs(ctx, ctx->ret, SL_SYS_OPEN); }

SEC("tp/syscalls/sys_exit_openat")
int sl_rexit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit_regs(ctx, ctx->ret, SL_SYS_OPENAT);
}

SEC("tp/syscalls/sys_exit_openat2")
int sl_rexit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit_regs(ctx, ctx->ret, SL_SYS_OPENAT2);
}

SEC("tp/syscalls/sys_exit_creat")
int sl_rexit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit_regs(ctx, ctx->ret, SL_SYS_CREAT);
}

/* The stat family: the same record, kind SL_EV_STAT. Enter and exit pairs (before 5.15) and the
 * exit alone (registers). */
SEC("tp/syscalls/sys_enter_newstat")
int sl_enter_stat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[0], SL_AT_FDCWD, 0, 0, SL_SYS_STAT);
}

SEC("tp/syscalls/sys_enter_newlstat")
int sl_enter_lstat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[0], SL_AT_FDCWD, 0, 0, SL_SYS_LSTAT);
}

SEC("tp/syscalls/sys_enter_newfstatat")
int sl_enter_fstatat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[1], (int)ctx->args[0], ctx->args[3], 0, SL_SYS_FSTATAT);
}

SEC("tp/syscalls/sys_enter_statx")
int sl_enter_statx(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[1], (int)ctx->args[0], ctx->args[2], 0, SL_SYS_STATX);
}

SEC("tp/syscalls/sys_enter_statfs")
int sl_enter_statfs(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[0], SL_AT_FDCWD, 0, 0, SL_SYS_STATFS);
}

SEC("tp/syscalls/sys_exit_newstat")
int sl_exit_stat(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_newlstat")
int sl_exit_lstat(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_newfstatat")
int sl_exit_fstatat(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_statx")
int sl_exit_statx(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_statfs")
int sl_exit_statfs(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_newstat")
int sl_rexit_stat(struct trace_event_raw_sys_exit *ctx) { return open_exit_regs(ctx, ctx->ret, SL_SYS_STAT); }

SEC("tp/syscalls/sys_exit_newlstat")
int sl_rexit_lstat(struct trace_event_raw_sys_exit *ctx) { return open_exit_regs(ctx, ctx->ret, SL_SYS_LSTAT); }

SEC("tp/syscalls/sys_exit_newfstatat")
int sl_rexit_fstatat(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit_regs(ctx, ctx->ret, SL_SYS_FSTATAT);
}

SEC("tp/syscalls/sys_exit_statx")
int sl_rexit_statx(struct trace_event_raw_sys_exit *ctx) { return open_exit_regs(ctx, ctx->ret, SL_SYS_STATX); }

SEC("tp/syscalls/sys_exit_statfs")
int sl_rexit_statfs(struct trace_event_raw_sys_exit *ctx) { return open_exit_regs(ctx, ctx->ret, SL_SYS_STATFS); }

/* mount and umount2 (mountsnoop). */
struct mount_args {
	__u64 source, target, fstype, flags, data;
	__u32 call;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* threads in mount() at once */
	__type(key, __u32);
	__type(value, struct mount_args);
} mounts SEC(".maps");

static __always_inline int mount_enter(struct mount_args *a)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	__u32 tid = (__u32)t.pid_tgid;
	if (SL_CHECK(SL_H_MAP_UPDATE, bpf_map_update_elem(&mounts, &tid, a, BPF_ANY)))
		sl_count(SL_STAT_PAIR_LOST);
	return 0;
}

static __always_inline int mount_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct mount_args *a = bpf_map_lookup_elem(&mounts, &tid);
	if (!a)
		return 0;
	struct sl_mount_event *e = NULL;
	if (!targ_failed || ret < 0)
		e = sl_reserve(sizeof(*e));
	if (e) {
		struct sl_task t;
		sl_task_init(&t);
		sl_fill_hdr(&e->hdr, SL_EV_MOUNT, &t);
		e->ret = ret;
		e->flags = a->flags;
		e->call = a->call;
		e->pad = 0;
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		e->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
		e->fstype[0] = e->data[0] = e->source[0] = e->target[0] = 0;
		if (a->fstype)
			sl_read_user_str(e->fstype, sizeof(e->fstype), (const void *)a->fstype);
		if (a->data)
			sl_read_user_str(e->data, sizeof(e->data), (const void *)a->data);
		if (a->source)
			sl_read_user_str(e->source, sizeof(e->source), (const void *)a->source);
		if (a->target)
			sl_read_user_str(e->target, sizeof(e->target), (const void *)a->target);
		sl_submit(ctx, e, sizeof(*e));
	}
	bpf_map_delete_elem(&mounts, &tid);
	return 0;
}

SEC("tp/syscalls/sys_enter_mount")
int sl_enter_mount(struct trace_event_raw_sys_enter *ctx)
{
	struct mount_args a = {.source = ctx->args[0], .target = ctx->args[1], .fstype = ctx->args[2],
			       .flags = ctx->args[3], .data = ctx->args[4], .call = SL_MOUNT_CALL_MOUNT};
	return mount_enter(&a);
}

SEC("tp/syscalls/sys_exit_mount")
int sl_exit_mount(struct trace_event_raw_sys_exit *ctx) { return mount_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_enter_umount") /* umount2: the kernel defines it as umount */
int sl_enter_umount(struct trace_event_raw_sys_enter *ctx)
{
	struct mount_args a = {.target = ctx->args[0], .flags = ctx->args[1], .call = SL_MOUNT_CALL_UMOUNT};
	return mount_enter(&a);
}

SEC("tp/syscalls/sys_exit_umount")
int sl_exit_umount(struct trace_event_raw_sys_exit *ctx) { return mount_exit(ctx, ctx->ret); }

/* Slow file I/O (fsslower): the enter keeps the start per thread; the exit sends a record only
 * when the call took slow_io_ns or more and its fd is a regular file. */
const volatile __u64 slow_io_ns = 10000000;

struct io_start {
	__u64 ts;
	__s64 pos;   /* pread64/pwrite64: the offset argument; else -1 */
	__s32 fd;
	__u32 syscall;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* threads in a read/write/sync at once; LRU: never full */
	__type(key, __u32);
	__type(value, struct io_start);
} io_starts SEC(".maps");

static __always_inline int io_enter(__u64 fd, __u32 syscall, __s64 pos)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	__u32 tid = (__u32)t.pid_tgid;
	struct io_start s = {.ts = sl_now(), .pos = pos, .fd = (__s32)fd, .syscall = syscall};
	bpf_map_update_elem(&io_starts, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int io_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct io_start *s = bpf_map_lookup_elem(&io_starts, &tid);
	if (!s)
		return 0;
	__u64 lat = sl_now() - s->ts;
	struct io_start a = *s;
	bpf_map_delete_elem(&io_starts, &tid);
	if (lat < slow_io_ns || (targ_failed && ret >= 0))
		return 0;
	struct sl_task t;
	sl_task_init(&t);
	struct file *f = sl_fd_file(sl_task_ptr(&t), a.fd);
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & SL_S_IFMT) != SL_S_IFREG)
		return 0;
	struct sl_slow_io_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return 0;
	sl_fill_hdr(&e->hdr, SL_EV_SLOW_IO, &t);
	e->ret = ret;
	e->latency_ns = lat;
	e->fd = a.fd;
	e->syscall = a.syscall;
	e->pad = 0;
	if (a.syscall == SL_IO_FSYNC || a.syscall == SL_IO_FDATASYNC)
		e->offset = -1;
	else if (a.pos >= 0)
		e->offset = a.pos;
	else /* read, write, readv, writev moved the position by what they did */
		e->offset = BPF_CORE_READ(f, f_pos) - (ret > 0 ? ret : 0);
	bpf_probe_read_kernel_str(e->fstype, sizeof(e->fstype), BPF_CORE_READ(f, f_inode, i_sb, s_type, name));
	bpf_probe_read_kernel_str(e->name, sizeof(e->name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	sl_submit(ctx, e, sizeof(*e));
	return 0;
}

#define SL_IO_PAIR(sc, NUM, POS)                                                   \
	SEC("tp/syscalls/sys_enter_" #sc)                                          \
	int sl_enter_##sc(struct trace_event_raw_sys_enter *ctx)                   \
	{                                                                          \
		return io_enter(ctx->args[0], NUM, POS);                           \
	}                                                                          \
	SEC("tp/syscalls/sys_exit_" #sc)                                           \
	int sl_exit_##sc(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx, ctx->ret); }

SL_IO_PAIR(read, SL_IO_READ, -1)
SL_IO_PAIR(write, SL_IO_WRITE, -1)
SL_IO_PAIR(pread64, SL_IO_PREAD64, (__s64)ctx->args[3])
SL_IO_PAIR(pwrite64, SL_IO_PWRITE64, (__s64)ctx->args[3])
SL_IO_PAIR(readv, SL_IO_READV, -1)
SL_IO_PAIR(writev, SL_IO_WRITEV, -1)
SL_IO_PAIR(fsync, SL_IO_FSYNC, -1)
SL_IO_PAIR(fdatasync, SL_IO_FDATASYNC, -1)

/* Short-lived files (filelife), on ext4: the inode's allocation time by (dev, ino); the path
 * unlink was given, per thread, between the syscall's enter and exit. */
struct life_key {
	__u32 dev;
	__u32 pad;
	__u64 ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* files created and not deleted yet; LRU: the oldest forgotten */
	__type(key, struct life_key);
	__type(value, __u64);
} created SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024); /* threads in unlink at once */
	__type(key, __u32);
	__type(value, __u64);
} unlink_paths SEC(".maps");

/* The tracepoints' records (include/trace/events/ext4.h), by their format's offsets: ext4 may be
 * a module whose types are not in vmlinux's BTF. */
struct sl_ext4_alloc_ctx {
	__u64 common;
	__u32 dev;
	__u32 pad;
	__u64 ino;
	__u64 dir;
	__u16 mode;
};
struct sl_ext4_unlink_ctx {
	__u64 common;
	__u32 dev;
	__u32 pad;
	__u64 ino;
	__u64 parent;
	__s64 size;
};

SEC("tp/ext4/ext4_allocate_inode")
int sl_ext4_alloc(struct sl_ext4_alloc_ctx *ctx)
{
	if ((ctx->mode & SL_S_IFMT) != SL_S_IFREG)
		return 0;
	struct life_key k = {.dev = ctx->dev, .ino = ctx->ino};
	__u64 now = sl_now();
	bpf_map_update_elem(&created, &k, &now, BPF_ANY);
	return 0;
}

static __always_inline int unlink_enter(__u64 path)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&unlink_paths, &tid, &path, BPF_ANY);
	return 0;
}

static __always_inline int unlink_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&unlink_paths, &tid);
	return 0;
}

SEC("tp/syscalls/sys_enter_unlink")
int sl_enter_unlink(struct trace_event_raw_sys_enter *ctx) { return unlink_enter(ctx->args[0]); }
SEC("tp/syscalls/sys_enter_unlinkat")
int sl_enter_unlinkat(struct trace_event_raw_sys_enter *ctx) { return unlink_enter(ctx->args[1]); }
SEC("tp/syscalls/sys_exit_unlink")
int sl_exit_unlink(struct trace_event_raw_sys_exit *ctx) { return unlink_exit(); }
SEC("tp/syscalls/sys_exit_unlinkat")
int sl_exit_unlinkat(struct trace_event_raw_sys_exit *ctx) { return unlink_exit(); }

SEC("tp/ext4/ext4_unlink_enter")
int sl_ext4_unlink(struct sl_ext4_unlink_ctx *ctx)
{
	struct life_key k = {.dev = ctx->dev, .ino = ctx->ino};
	__u64 *born = bpf_map_lookup_elem(&created, &k);
	if (!born)
		return 0; /* created before the agent, or not a regular file */
	__u64 age = sl_now() - *born;
	bpf_map_delete_elem(&created, &k);
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct sl_file_life_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return 0;
	sl_fill_hdr(&e->hdr, SL_EV_FILE_LIFE, &t);
	e->age_ns = age;
	e->ino = ctx->ino;
	e->size = ctx->size;
	e->dev = ctx->dev;
	e->pad = 0;
	e->path[0] = 0;
	__u32 tid = (__u32)t.pid_tgid;
	__u64 *p = bpf_map_lookup_elem(&unlink_paths, &tid);
	if (p)
		sl_read_user_str(e->path, sizeof(e->path), (const void *)*p);
	sl_submit(ctx, e, sizeof(*e));
	return 0;
}
