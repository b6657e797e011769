/* enforcement: rules with `action: kill` acted on at the hook, in the kernel (sightline/enforce.h
 * says how a rule becomes map entries).
 *
 * open: at the exit of open, openat, openat2 and creat that returned a file, the file's full
 *   path (its dentries walked up to the root of the task's mount tree: symlinks and relative
 *   paths resolved) is matched, then the task's name, uid and executable; the process gets
 *   SIGKILL, which is delivered on the return to user space: it never runs an instruction with
 *   the descriptor, so it reads nothing through it.
 * exec: at sched_process_exec, after the new image is in place and before its first
 *   instruction; matched on the new executable, name and uid.
 * Every action (or dry-run report) is a record; records carry the rule set's generation so that
 * user space names the rule that acted even across a reload.
 * Cost where nothing matches: one name and one uid lookup, then (only when some rule could
 * still match) the path walk and one trie lookup.
 */
#include "common.bpf.h"
#include "sightline/enforce.h"
#include "sock.bpf.h"
#include <bpf/bpf_endian.h>

SL_BTF_TYPE(sl_enf_event);

#define SL_SIGKILL 9

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_enf_conf);
} enf_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SL_ENF_MAX_PATHS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sl_enf_path_key);
	__type(value, struct sl_enf_bits);
} enf_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SL_ENF_MAX_PATHS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sl_enf_path_key);
	__type(value, struct sl_enf_bits);
} enf_exes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_ENF_MAX_VALUES);
	__type(key, struct sl_enf_comm_key);
	__type(value, struct sl_enf_bits);
} enf_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_ENF_MAX_VALUES);
	__type(key, __u32);
	__type(value, struct sl_enf_bits);
} enf_uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_ENF_MAX_VALUES);
	__type(key, __u32);
	__type(value, struct sl_enf_bits);
} enf_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SL_ENF_MAX_VALUES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sl_enf_addr_key);
	__type(value, struct sl_enf_bits);
} enf_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_ENF_MAX_VALUES);
	__type(key, struct sl_enf_leaf_key);
	__type(value, __u8);
} enf_leaves SEC(".maps");

/* A path being built: the trie key (prefixlen, then the path) with room for the last
 * component's read to run past SL_ENF_PATH, and the walked components' names. */
struct enf_walk {
	__u32 prefixlen;
	char data[SL_ENF_PATH * 2];
	const unsigned char *names[SL_ENF_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2); /* 0: the file, 1: the executable */
	__type(key, __u32);
	__type(value, struct enf_walk);
} enf_scratch SEC(".maps");

static __always_inline __u64 enf_dim(const struct sl_enf_dim *d, const struct sl_enf_bits *v)
{
	__u64 pos = v ? v->pos : 0, neg = v ? v->neg : 0;
	return (pos | d->nopos) & ~neg;
}

/* The full path of `f` into w->data (NUL-terminated, cut at SL_ENF_PATH - 1 bytes); true when it
 * was cut or deeper than SL_ENF_DEPTH. The walk is the kernel's d_path: up the dentries, and at a
 * mount's root to the dentry it is mounted on, until the task's root directory (a chroot's, a
 * container's) or the root of the mount tree. */
static __always_inline bool enf_file_path(struct file *f, struct enf_walk *w, struct task_struct *task)
{
	struct dentry *root = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
	struct mount *m = (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
	/* Step i stores its component in names[i], or NULL where it crossed a mount: the loop
	 * index is the only counter, so the verifier's states of both branches prune. */
	__u32 n = SL_ENF_DEPTH;
	bool cut = true;
	for (int i = 0; i < SL_ENF_DEPTH; i++) {
		w->names[i] = NULL;
		if (d == root && vm == root_mnt) {
			n = i;
			cut = false;
			break;
		}
		if (d == BPF_CORE_READ(vm, mnt_root)) {
			struct mount *parent = BPF_CORE_READ(m, mnt_parent);
			if (parent == m) {
				n = i;
				cut = false;
				break;
			}
			d = BPF_CORE_READ(m, mnt_mountpoint);
			m = parent;
			vm = (struct vfsmount *)((void *)parent + bpf_core_field_offset(struct mount, mnt));
			continue;
		}
		struct dentry *up = BPF_CORE_READ(d, d_parent);
		if (up == d) {
			n = i;
			cut = false;
			break;
		}
		w->names[i] = BPF_CORE_READ(d, d_name.name);
		d = up;
	}
	__u32 off = 0;
	for (int i = 0; i < SL_ENF_DEPTH; i++) {
		if (i >= n)
			break;
		if (off >= SL_ENF_PATH - 1) {
			cut = true;
			break;
		}
		const unsigned char *name = w->names[(n - 1 - i) & (SL_ENF_DEPTH - 1)];
		if (!name)
			continue;
		/* The masks bound the offsets for the verifier; the compiler would drop them as
		 * redundant with the test above without the barrier. */
		barrier_var(off);
		w->data[off & (SL_ENF_PATH - 1)] = '/';
		off++;
		__u32 at = off;
		barrier_var(at);
		at &= SL_ENF_PATH - 1;
		long r = bpf_probe_read_kernel_str(&w->data[at], SL_ENF_PATH, name);
		if (r <= 1)
			break;
		off += r - 1;
	}
	if (!off) {
		w->data[0] = '/';
		off = 1;
	}
	if (off >= SL_ENF_PATH) {
		off = SL_ENF_PATH - 1;
		cut = true;
	}
	w->data[off & (SL_ENF_PATH - 1)] = 0;
	w->prefixlen = SL_ENF_PATH * 8;
	return cut;
}

/* Of `bits` (rules of one hook), those the current task matches; for open, `fd` is the file it
 * got or `file` the file it is opening (its path goes to file_w); for exec neither. exe_w gets
 * the executable's path when it was needed: `exe` (the file an exec is about to run), else the
 * task's own. */
/* A connect's destination, as the dimensions read it. */
struct enf_net {
	struct sl_enf_addr_key addr; /* prefixlen 128 */
	__u32 port;
	__u16 family;
	__u8 raw[16]; /* the address as the record carries it */
};

static __always_inline __u64 enf_match(const struct sl_enf_conf *c, __u64 bits, struct sl_task *t,
				       long fd, struct file *file, struct file *exe,
				       const struct enf_net *net, struct enf_walk *file_w,
				       struct enf_walk *exe_w, bool *file_cut, bool *exe_cut)
{
	if (!bits)
		return 0;
	/* The cheap dimensions first: most tasks leave here. */
	if (bits & c->comm.constrained) {
		struct sl_enf_comm_key ck = {};
		sl_task_comm(t);
		__builtin_memcpy(ck.comm, t->comm, SL_COMM_LEN);
		bits &= enf_dim(&c->comm, bpf_map_lookup_elem(&enf_comms, &ck));
		if (!bits)
			return 0;
	}
	if (bits & c->uid.constrained) {
		__u32 uid = (__u32)bpf_get_current_uid_gid();
		bits &= enf_dim(&c->uid, bpf_map_lookup_elem(&enf_uids, &uid));
		if (!bits)
			return 0;
	}
	if (net) {
		if (bits & c->port.constrained)
			bits &= enf_dim(&c->port, bpf_map_lookup_elem(&enf_ports, &net->port));
		if (bits & c->addr.constrained)
			bits &= enf_dim(&c->addr, bpf_map_lookup_elem(&enf_addrs, &net->addr));
		if (!bits)
			return 0;
	}
	struct task_struct *task = sl_task_ptr(t);
	if (file_w) {
		struct file *f = fd >= 0 ? sl_fd_file(task, fd) : file;
		if (!f)
			return 0;
		if (c->leaf_filter) {
			/* The file's own name first: one lookup instead of the walk for most opens. */
			struct sl_enf_leaf_key *leaf = (struct sl_enf_leaf_key *)file_w->data;
			__builtin_memset(leaf, 0, sizeof(*leaf));
			bpf_probe_read_kernel_str(leaf->name, sizeof(leaf->name),
						  BPF_CORE_READ(f, f_path.dentry, d_name.name));
			if (!bpf_map_lookup_elem(&enf_leaves, leaf))
				return 0;
		}
		*file_cut = enf_file_path(f, file_w, task);
		if (bits & c->path.constrained)
			bits &= enf_dim(&c->path, bpf_map_lookup_elem(&enf_paths, file_w));
		if (!bits)
			return 0;
	}
	if (!exe)
		exe = BPF_CORE_READ(task, mm, exe_file);
	if (exe) {
		*exe_cut = enf_file_path(exe, exe_w, task);
	} else {
		exe_w->data[0] = 0;
		exe_w->prefixlen = SL_ENF_PATH * 8;
	}
	if (bits & c->exe.constrained)
		bits &= enf_dim(&c->exe, bpf_map_lookup_elem(&enf_exes, exe_w));
	return bits;
}

/* Acts for the lowest rule of `bits` (kill: the signal; deny: the caller returns -EPERM when
 * this says SL_ENF_DENIED) and sends the record. Returns the outcome. */
static __always_inline __u8 enf_act(void *ctx, const struct sl_enf_conf *c, int hook, __u64 bits,
				    struct sl_task *t, long fd, const struct enf_net *net,
				    struct enf_walk *file_w, struct enf_walk *exe_w, bool file_cut,
				    bool exe_cut)
{
	__u16 rule = 0;
	for (int i = 0; i < SL_ENF_MAX_RULES; i++)
		if (bits & (1ULL << i)) {
			rule = i;
			break;
		}
	bool dry = c->dry_run & (1ULL << rule);
	__u8 outcome;
	long err = 0;
	if (c->deny & (1ULL << rule)) {
		outcome = dry ? SL_ENF_WOULD_DENY : SL_ENF_DENIED;
	} else if (dry) {
		outcome = SL_ENF_WOULD_KILL;
	} else {
		err = bpf_send_signal(SL_SIGKILL);
		outcome = err ? SL_ENF_FAILED : SL_ENF_KILLED;
	}
	struct sl_enf_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return outcome;
	sl_fill_hdr(&e->hdr, SL_EV_ACTION, t);
	e->generation = c->generation;
	e->rule = rule;
	e->hook = hook;
	e->outcome = outcome;
	e->err = err;
	e->fd = fd;
	e->path_truncated = file_cut;
	e->exe_truncated = exe_cut;
	e->pad = 0;
	e->rport = net ? (__u16)net->port : 0;
	e->family = net ? net->family : 0;
	__builtin_memset(e->raddr, 0, sizeof(e->raddr));
	if (net)
		__builtin_memcpy(e->raddr, net->raw, sizeof(e->raddr));
	if (net)
		e->path[0] = 0;
	else
		bpf_probe_read_kernel_str(e->path, sizeof(e->path), file_w ? file_w->data : exe_w->data);
	bpf_probe_read_kernel_str(e->exe, sizeof(e->exe), exe_w->data);
	sl_submit(ctx, e, sizeof(*e));
	return outcome;
}

static __always_inline int enf_open_exit(void *ctx, long ret)
{
	if (ret < 0)
		return 0;
	__u32 zero = 0, one = 1;
	const struct sl_enf_conf *c = bpf_map_lookup_elem(&enf_conf, &zero);
	if (!c || !(c->hook_rules[SL_ENF_HOOK_OPEN] & ~c->deny))
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct enf_walk *fw = bpf_map_lookup_elem(&enf_scratch, &zero);
	struct enf_walk *xw = bpf_map_lookup_elem(&enf_scratch, &one);
	if (!fw || !xw)
		return 0;
	bool fcut = false, xcut = false;
	__u64 bits = enf_match(c, c->hook_rules[SL_ENF_HOOK_OPEN] & ~c->deny, &t, ret, NULL, NULL, NULL,
			       fw, xw, &fcut, &xcut);
	if (bits)
		enf_act(ctx, c, SL_ENF_HOOK_OPEN, bits, &t, ret, NULL, fw, xw, fcut, xcut);
	return 0;
}

SEC("tp/syscalls/sys_exit_open")
int sl_enf_exit_open(struct trace_event_raw_sys_exit *ctx) { return enf_open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_openat")
int sl_enf_exit_openat(struct trace_event_raw_sys_exit *ctx) { return enf_open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_openat2")
int sl_enf_exit_openat2(struct trace_event_raw_sys_exit *ctx) { return enf_open_exit(ctx, ctx->ret); }

SEC("tp/syscalls/sys_exit_creat")
int sl_enf_exit_creat(struct trace_event_raw_sys_exit *ctx) { return enf_open_exit(ctx, ctx->ret); }

SEC("tp/sched/sched_process_exec")
int sl_enf_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 zero = 0, one = 1;
	const struct sl_enf_conf *c = bpf_map_lookup_elem(&enf_conf, &zero);
	if (!c || !(c->hook_rules[SL_ENF_HOOK_EXEC] & ~c->deny))
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct enf_walk *xw = bpf_map_lookup_elem(&enf_scratch, &one);
	if (!xw)
		return 0;
	bool fcut = false, xcut = false;
	__u64 bits = enf_match(c, c->hook_rules[SL_ENF_HOOK_EXEC] & ~c->deny, &t, -1, NULL, NULL, NULL,
			       NULL, xw, &fcut, &xcut);
	if (bits)
		enf_act(ctx, c, SL_ENF_HOOK_EXEC, bits, &t, -1, NULL, NULL, xw, fcut, xcut);
	return 0;
}

/* deny: BPF LSM (loaded only where the kernel runs it). The hooks run before the operation
 * completes: returning -EPERM makes open() or execve() fail with it, the caller lives on. */
#define SL_EPERM 1

SEC("lsm/file_open")
int BPF_PROG(sl_enf_lsm_file_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	__u32 zero = 0, one = 1;
	const struct sl_enf_conf *c = bpf_map_lookup_elem(&enf_conf, &zero);
	if (!c || !(c->hook_rules[SL_ENF_HOOK_OPEN] & c->deny))
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct enf_walk *fw = bpf_map_lookup_elem(&enf_scratch, &zero);
	struct enf_walk *xw = bpf_map_lookup_elem(&enf_scratch, &one);
	if (!fw || !xw)
		return 0;
	bool fcut = false, xcut = false;
	__u64 bits = enf_match(c, c->hook_rules[SL_ENF_HOOK_OPEN] & c->deny, &t, -1, file, NULL, NULL,
			       fw, xw, &fcut, &xcut);
	if (bits && enf_act(ctx, c, SL_ENF_HOOK_OPEN, bits, &t, -1, NULL, fw, xw, fcut, xcut) == SL_ENF_DENIED)
		return -SL_EPERM;
	return 0;
}

/* exec: the file about to run is bprm->file (proc.exepath); the task is still the caller. */
SEC("lsm/bprm_check_security")
int BPF_PROG(sl_enf_lsm_bprm_check, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	__u32 zero = 0, one = 1;
	const struct sl_enf_conf *c = bpf_map_lookup_elem(&enf_conf, &zero);
	if (!c || !(c->hook_rules[SL_ENF_HOOK_EXEC] & c->deny))
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct enf_walk *xw = bpf_map_lookup_elem(&enf_scratch, &one);
	if (!xw)
		return 0;
	bool fcut = false, xcut = false;
	struct file *exe = BPF_CORE_READ(bprm, file);
	__u64 bits = enf_match(c, c->hook_rules[SL_ENF_HOOK_EXEC] & c->deny, &t, -1, NULL, exe, NULL,
			       NULL, xw, &fcut, &xcut);
	if (bits && enf_act(ctx, c, SL_ENF_HOOK_EXEC, bits, &t, -1, NULL, NULL, xw, fcut, xcut) == SL_ENF_DENIED)
		return -SL_EPERM;
	return 0;
}

/* connect: the destination from a sockaddr (user memory for the tracepoint, kernel memory for
 * the LSM hook); false for anything but IPv4 and IPv6. */
#define SL_AF_INET_ 2
#define SL_AF_INET6_ 10
static __always_inline bool enf_sockaddr(struct enf_net *n, const void *sa, bool user)
{
	struct sockaddr_in6 a = {}; /* its prefix is a sockaddr_in */
	long err = user ? bpf_probe_read_user(&a, sizeof(a), sa) : bpf_probe_read_kernel(&a, sizeof(a), sa);
	if (err && user) /* a short sockaddr_in at the end of a page */
		err = bpf_probe_read_user(&a, sizeof(struct sockaddr_in), sa);
	if (err)
		return false;
	__builtin_memset(n, 0, sizeof(*n));
	n->addr.prefixlen = 128;
	n->family = a.sin6_family;
	n->port = bpf_ntohs(a.sin6_port);
	if (a.sin6_family == SL_AF_INET_) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a;
		n->addr.addr[10] = 0xff;
		n->addr.addr[11] = 0xff;
		__builtin_memcpy(&n->addr.addr[12], &in->sin_addr.s_addr, 4);
		__builtin_memcpy(n->raw, &in->sin_addr.s_addr, 4);
		return true;
	}
	if (a.sin6_family == SL_AF_INET6_) {
		__builtin_memcpy(n->addr.addr, &a.sin6_addr, 16);
		__builtin_memcpy(n->raw, &a.sin6_addr, 16);
		return true;
	}
	return false;
}

SEC("tp/syscalls/sys_enter_connect")
int sl_enf_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0, one = 1;
	const struct sl_enf_conf *c = bpf_map_lookup_elem(&enf_conf, &zero);
	if (!c || !(c->hook_rules[SL_ENF_HOOK_CONNECT] & ~c->deny))
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct enf_net net;
	if (!enf_sockaddr(&net, (const void *)ctx->args[1], true))
		return 0;
	struct enf_walk *xw = bpf_map_lookup_elem(&enf_scratch, &one);
	if (!xw)
		return 0;
	bool fcut = false, xcut = false;
	__u64 bits = enf_match(c, c->hook_rules[SL_ENF_HOOK_CONNECT] & ~c->deny, &t, -1, NULL, NULL, &net,
			       NULL, xw, &fcut, &xcut);
	if (bits)
		enf_act(ctx, c, SL_ENF_HOOK_CONNECT, bits, &t, (long)ctx->args[0], &net, NULL, xw, fcut, xcut);
	return 0;
}

SEC("lsm/socket_connect")
int BPF_PROG(sl_enf_lsm_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	if (ret)
		return ret;
	__u32 zero = 0, one = 1;
	const struct sl_enf_conf *c = bpf_map_lookup_elem(&enf_conf, &zero);
	if (!c || !(c->hook_rules[SL_ENF_HOOK_CONNECT] & c->deny))
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct enf_net net;
	if (!enf_sockaddr(&net, address, false))
		return 0;
	struct enf_walk *xw = bpf_map_lookup_elem(&enf_scratch, &one);
	if (!xw)
		return 0;
	bool fcut = false, xcut = false;
	__u64 bits = enf_match(c, c->hook_rules[SL_ENF_HOOK_CONNECT] & c->deny, &t, -1, NULL, NULL, &net,
			       NULL, xw, &fcut, &xcut);
	if (bits && enf_act(ctx, c, SL_ENF_HOOK_CONNECT, bits, &t, -1, &net, NULL, xw, fcut, xcut) == SL_ENF_DENIED)
		return -SL_EPERM;
	return 0;
}
