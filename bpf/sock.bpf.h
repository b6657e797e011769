/* An fd of the current task to its file and socket: for programs at syscall exits that are
 * handed an fd (security, l7). Reads go through CO-RE probe reads: the fd table is indexed by
 * a value the verifier cannot bound against a BTF array. */
#ifndef SIGHTLINE_SOCK_BPF_H
#define SIGHTLINE_SOCK_BPF_H
#pragma push_macro("SL_FILE")
#undef SL_FILE
#define SL_FILE SL_FILE_SOCK

#define SL_S_IFMT 0170000
#define SL_S_IFSOCK 0140000
#define SL_S_IFREG 0100000
#define SL_AF_UNIX 1
#define SL_AF_INET 2
#define SL_AF_INET6 10
#define SL_SOCK_STREAM 1
#define SL_SOCK_DGRAM 2

/* The task's open file `fd`, or NULL. With has_task_btf `task` is a BTF pointer
 * (bpf_get_current_task_btf): the walk to the fd table is plain loads, only the indexed slot
 * needs a probe read. Without it (before 5.15) `task` is bpf_get_current_task()'s, and every step
 * is a CO-RE probe read. */
static __always_inline struct file *sl_fd_file(struct task_struct *task, __u64 fd)
{
	struct file **fds;
	if (has_task_btf) {
		struct files_struct *files = task->files;
		if (!files)
			return NULL;
		struct fdtable *fdt = files->fdt;
		if (!fdt || fd >= fdt->max_fds)
			return NULL;
		fds = fdt->fd;
	} else {
		struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
		if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
			return NULL;
		fds = BPF_CORE_READ(fdt, fd);
	}
	struct file *f = NULL;
	sl_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* The socket behind an open file, NULL if it is not one. */
static __always_inline struct sock *sl_file_sock(struct file *f)
{
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & SL_S_IFMT) != SL_S_IFSOCK)
		return NULL;
	struct socket *sock = (struct socket *)BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* Both ends of an IPv4/IPv6 socket (addresses as 16 bytes, IPv4 in the first 4). */
static __always_inline void sl_sock_ends(struct sock *sk, __u16 family, __u8 *laddr, __u8 *raddr,
					 __u16 *lport, __u16 *rport)
{
	*lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	*rport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == SL_AF_INET) {
		bpf_core_read(laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(raddr, 4, &sk->__sk_common.skc_daddr);
	} else if (family == SL_AF_INET6) {
		bpf_core_read(laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* An address of the loopback network (127/8, ::1, ::ffff:127/104): the other end is this node's,
 * in the same network namespace. `a`: 16 bytes, 8-aligned (read in place: no stack, l7's call
 * chains are at the 512-byte combined bound). */
static __always_inline bool sl_loopback(__u16 family, const __u8 *a)
{
	if (family == SL_AF_INET)
		return a[0] == 127;
	const __u64 *w = (const __u64 *)a;
	__u64 lo = w[1];
	/* little-endian: ::1 has its last byte 1, a mapped 127.x.x.x bytes 10-12 ff ff 7f */
	return !w[0] && (lo == 0x0100000000000000ULL || ((lo & 0xffffffffULL) == 0xffff0000ULL && (__u8)(lo >> 32) == 127));
}

#pragma pop_macro("SL_FILE")
#endif
