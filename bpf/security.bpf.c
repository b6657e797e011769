/* security source: one program attached to the sys_exit_* tracepoint of each security-relevant
 * syscall (only those fire it: no cost on other syscalls). The attach cookie says which one,
 * which arguments are paths, which fd to describe and which in-kernel filter applies; the
 * arguments come from the task's saved user registers (bpf_task_pt_regs, 5.15+), the result
 * from the tracepoint. Before 5.15 (no bpf_task_pt_regs, no tracepoint cookie) one tp_btf program
 * at every syscall's exit looks the number up instead (sl_sec_sys_exit): the same records, a
 * lookup's cost on every syscall. Frequent syscalls (clone, connect, accept, dup2) are filtered here so
 * that only what a rule can care about is sent: clones into new namespaces, IPv4/IPv6
 * sockets, a socket put on stdin/stdout/stderr. Strings: 256 bytes each, two at most. */
#include "common.bpf.h"
#include "sightline/security.h"
#include "sock.bpf.h"

SL_BTF_TYPE(sl_sec_event);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_SEC_MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct sl_sec_conf);
} sec_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_SEC_MAX_NR);
	__type(key, __u32);
	__type(value, __u32); /* index into sec_conf + 1; 0: not attached */
} sec_by_nr SEC(".maps");

/* What an fd is: inode type, and for a socket its family, type, protocol and both ends. */
struct fd_desc {
	__u16 mode, family, type, protocol, lport, rport;
	__u8 laddr[16], raddr[16];
};

static __always_inline __u64 arg_at(const __u64 *args, __u8 idx)
{
	switch (idx) { /* no computed index: the verifier bounds each case */
	case 1: return args[0];
	case 2: return args[1];
	case 3: return args[2];
	case 4: return args[3];
	case 5: return args[4];
	case 6: return args[5];
	}
	return 0;
}

static __always_inline void read_path(char *dst, __u8 idx, const __u64 *args)
{
	dst[0] = 0;
	if (idx < 1 || idx > 4)
		return;
	sl_read_user_str(dst, SL_PATH_MAX, (const void *)arg_at(args, idx));
}

static __always_inline bool describe_fd(struct task_struct *task, __s64 fd, struct fd_desc *d)
{
	if (fd < 0)
		return false;
	struct file *f = sl_fd_file(task, fd);
	if (!f)
		return false;
	d->mode = BPF_CORE_READ(f, f_inode, i_mode) & SL_S_IFMT;
	struct sock *sk = sl_file_sock(f);
	if (!sk)
		return true;
	d->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	d->type = BPF_CORE_READ(sk, sk_type);
	d->protocol = BPF_CORE_READ(sk, sk_protocol);
	sl_sock_ends(sk, d->family, d->laddr, d->raddr, &d->lport, &d->rport);
	return true;
}

/* The configuration of syscall `id` (sec_conf's index), NULL when it is off: looked up before
 * anything else, so an attached syscall no rule needs costs one lookup. */
static __always_inline struct sl_sec_conf *sec_on(__u32 id)
{
	struct sl_sec_conf *c = bpf_map_lookup_elem(&sec_conf, &id);
	return c && c->enabled ? c : NULL;
}

/* Syscall `id` (configured by `c`) returned `ret`; `regs` are the task's saved user registers
 * (a BTF pointer). */
static __always_inline int sec_exit(void *ctx, __u32 id, struct sl_sec_conf *c, long ret, struct pt_regs *regs,
				    struct sl_task *t)
{
	if (targ_failed && ret >= 0)
		return 0;
	__u64 args[6];
	args[0] = BPF_CORE_READ(regs, di);
	args[1] = BPF_CORE_READ(regs, si);
	args[2] = BPF_CORE_READ(regs, dx);
	args[3] = BPF_CORE_READ(regs, r10);
	args[4] = BPF_CORE_READ(regs, r8);
	args[5] = BPF_CORE_READ(regs, r9);

	__u8 filter = c->filter;
	if (filter == SL_SEC_F_CLONE3_NS) {
		__u64 flags = 0; /* struct clone_args starts with its flags */
		sl_read_user(&flags, sizeof(flags), (const void *)args[0]);
		args[0] = flags;
	}
	if ((filter == SL_SEC_F_CLONE_NS || filter == SL_SEC_F_CLONE3_NS) &&
	    (ret == 0 || !(args[0] & SL_CLONE_NS_MASK)))
		return 0; /* the child's return, or no new namespace */
	if (filter == SL_SEC_F_STDIO_SOCK && (ret < 0 || ret > 2))
		return 0;
	if (filter == SL_SEC_F_PACKET && args[0] != SL_AF_PACKET)
		return 0;

	struct fd_desc d = {};
	__s64 fd = -1;
	if (c->fd == SL_SEC_FD_RET)
		fd = ret;
	else if (c->fd)
		fd = (__s64)(int)arg_at(args, c->fd);
	if (c->fd && !describe_fd(sl_task_ptr(t), fd, &d))
		fd = -1;
	if ((filter == SL_SEC_F_INET || filter == SL_SEC_F_BIND) && d.family != SL_AF_INET && d.family != SL_AF_INET6)
		return 0;
	if (filter == SL_SEC_F_BIND && ret < 0) {
		/* Nothing was bound: the address asked for (bindsnoop shows the socket's, 0 here). */
		__u8 sa[24] = {}; /* sockaddr_in6 up to its address: family, port, flowinfo, addr */
		sl_read_user(sa, sizeof(sa), (const void *)args[1]);
		__u16 fam = sa[0] | (__u16)sa[1] << 8;
		d.lport = (__u16)sa[2] << 8 | sa[3];
		if (fam == SL_AF_INET)
			__builtin_memcpy(d.laddr, &sa[4], 4);
		else if (fam == SL_AF_INET6)
			__builtin_memcpy(d.laddr, &sa[8], 16);
	}
	if (filter == SL_SEC_F_STDIO_SOCK && d.mode != SL_S_IFSOCK)
		return 0;

	struct sl_sec_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return 0;
	sl_fill_hdr(&e->hdr, SL_EV_SYSCALL, t);
	e->syscall = id;
	e->fd = fd;
	e->ret = ret;
	__builtin_memcpy(e->args, args, sizeof(args));
	e->fd_mode = d.mode;
	e->sock_family = d.family;
	e->sock_type = d.type;
	e->sock_protocol = d.protocol;
	e->lport = d.lport;
	e->rport = d.rport;
	e->pad2[0] = e->pad2[1] = 0;
	__builtin_memcpy(e->laddr, d.laddr, sizeof(d.laddr));
	__builtin_memcpy(e->raddr, d.raddr, sizeof(d.raddr));
	read_path(e->path, c->str1, args);
	read_path(e->path2, c->str2, args);
	sl_submit(ctx, e, sizeof(*e));
	return 0;
}

SEC("tracepoint")
int sl_sec_exit(struct syscall_trace_exit *ctx)
{
	__u32 id = (__u32)bpf_get_attach_cookie(ctx);
	struct sl_sec_conf *c = sec_on(id);
	if (!c)
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t) || !t.btf)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t.btf);
	if (!regs)
		return 0;
	return sec_exit(ctx, id, c, ctx->ret, regs, &t);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sl_sec_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 nr = sl_syscall_nr(regs);
	__u32 *slot = bpf_map_lookup_elem(&sec_by_nr, &nr);
	if (!slot || !*slot)
		return 0;
	__u32 id = *slot - 1;
	struct sl_sec_conf *c = sec_on(id);
	if (!c)
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	return sec_exit(ctx, id, c, ret, regs, &t);
}
