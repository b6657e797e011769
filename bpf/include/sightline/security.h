/* security source ABI: security-relevant syscalls (ptrace, bpf, mount, namespaces, privilege
 * changes, chmod, unlink, rename, memfd_create, connect/accept, dup2 ...) as one record kind,
 * taken at their exit with the arguments from the saved user registers. Which syscall: the
 * attach cookie, an index into user space's table (sources/security/security_source.cpp). */
#ifndef SIGHTLINE_SECURITY_H
#define SIGHTLINE_SECURITY_H

#include "sightline/common.h"

#define SL_SEC_MAX_SYSCALLS 64
/* Syscall numbers the fallback before 5.15 looks up (sec_by_nr: number -> index + 1). */
#define SL_SEC_MAX_NR 512

/* sl_sec_conf.fd: the result is the fd to describe (accept); 1-6 name an argument. */
#define SL_SEC_FD_RET 7

/* sl_sec_conf.filter: decided in the kernel, so frequent syscalls send only what matters. */
enum sl_sec_filter {
	SL_SEC_F_NONE = 0,
	SL_SEC_F_INET = 1,       /* the described fd is an AF_INET/AF_INET6 socket (connect, accept) */
	SL_SEC_F_STDIO_SOCK = 2, /* dup family: the new fd (the result) is 0, 1 or 2, and a socket */
	SL_SEC_F_CLONE_NS = 3,   /* clone: the parent's return, flags (arg 1) with CLONE_NEW* */
	SL_SEC_F_CLONE3_NS = 4,  /* clone3: the same, flags read from struct clone_args into arg 1 */
	SL_SEC_F_PACKET = 5,     /* socket: the domain (arg 1) is AF_PACKET (raw link-layer sockets) */
	SL_SEC_F_BIND = 6,       /* bind: an AF_INET/AF_INET6 socket; failed, the address asked (arg 2) */
};

#define SL_AF_PACKET 17

/* CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET|
 * CLONE_NEWTIME */
#define SL_CLONE_NS_MASK 0x7e020080ULL

/* Per attached syscall. An attached syscall that no rule needs has enabled = 0: the program
 * returns at once, and a rule reload can turn it on with no new attachment (the agent has
 * dropped the capabilities that attaching needs by then). */
struct sl_sec_conf {
	__u8 str1;    /* arguments that are user strings (1-based, 0: none) */
	__u8 str2;
	__u8 fd;      /* argument (1-6) or SL_SEC_FD_RET: describe that fd (socket ends, type) */
	__u8 filter;  /* enum sl_sec_filter */
	__u8 enabled;
	__u8 pad[3];
};

struct sl_sec_event {
	struct sl_event_hdr hdr; /* kind SL_EV_SYSCALL */
	__u32 syscall;           /* index into user space's table */
	__s32 fd;                /* the described fd, -1 if none */
	__s64 ret;
	__u64 args[6];
	__u16 fd_mode;           /* the fd's inode type bits (S_IFMT), 0 if none */
	__u16 sock_family;       /* AF_INET, AF_INET6, AF_UNIX ...; 0 if not a socket */
	__u16 sock_type;         /* SOCK_STREAM, SOCK_DGRAM ... */
	__u16 sock_protocol;     /* IPPROTO_TCP, IPPROTO_UDP ... */
	__u16 lport;             /* host order */
	__u16 rport;
	__u16 pad2[2];
	__u8 laddr[16];          /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	char path[SL_PATH_MAX];  /* string argument str1 */
	char path2[SL_PATH_MAX]; /* string argument str2 */
};

#endif
