/* Which protocol a message's first bytes speak, and whether they are a request: the same code
 * in the kernel (to decide what to stream) and in user space (tests, parsers' resync). Plain C
 * over at most SL_L7_PEEK bytes; no loops the verifier cannot bound. */
#ifndef SIGHTLINE_L7_INFER_H
#define SIGHTLINE_L7_INFER_H

#include "sightline/hist.h"
#include "sightline/l7.h"

#define SL_L7_PEEK 16

#define SL_L7_REQUEST 1
#define SL_L7_RESPONSE 2

static __always_inline int sl_l7_digit(__u8 c) { return c >= '0' && c <= '9'; }

static __always_inline __u32 sl_l7_be32(const __u8 *p)
{
	return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

/* A DNS message's header and the start of its question (RFC 1035 4.1): standard query opcode,
 * one question, a first label of 0-63 bytes, at most a few hundred records. For datagrams on
 * any port (DNS on 53 is taken by its port alone), and over TCP after its two-byte length. */
static __always_inline __u8 sl_l7_infer_dns(const __u8 *p, __u32 n, int *kind)
{
	*kind = 0;
	if (n < 17 || (p[2] & 0x78) || p[4] != 0 || p[5] != 1 || p[12] > 63 || p[6] > 1 || p[8] > 1 || p[10] > 1)
		return SL_L7_UNKNOWN;
	*kind = (p[2] & 0x80) ? SL_L7_RESPONSE : SL_L7_REQUEST;
	if (*kind == SL_L7_REQUEST && (p[6] | p[7] | (p[3] & 0x0f)))
		return SL_L7_UNKNOWN; /* a query has no answers and no rcode */
	return SL_L7_DNS;
}

/* HTTP/1's start of a message: a status line (SL_L7_RESPONSE) or a method and a space
 * (SL_L7_REQUEST); 0 if neither. */
static __always_inline int sl_l7_http_start(const __u8 *p, __u32 n)
{
	if (p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && n >= 5 && p[4] == '/')
		return SL_L7_RESPONSE;
	if ((p[0] == 'G' && p[1] == 'E' && p[2] == 'T' && p[3] == ' ') ||
	    (p[0] == 'P' && p[1] == 'U' && p[2] == 'T' && p[3] == ' ') ||
	    (p[0] == 'P' && p[1] == 'O' && p[2] == 'S' && p[3] == 'T') ||
	    (p[0] == 'H' && p[1] == 'E' && p[2] == 'A' && p[3] == 'D') ||
	    (p[0] == 'D' && p[1] == 'E' && p[2] == 'L' && p[3] == 'E') ||
	    (p[0] == 'P' && p[1] == 'A' && p[2] == 'T' && p[3] == 'C') ||
	    (p[0] == 'O' && p[1] == 'P' && p[2] == 'T' && p[3] == 'I') ||
	    (p[0] == 'C' && p[1] == 'O' && p[2] == 'N' && p[3] == 'N') ||
	    (p[0] == 'T' && p[1] == 'R' && p[2] == 'A' && p[3] == 'C'))
		return SL_L7_REQUEST;
	return 0;
}

/* `p`: the first min(n, SL_L7_PEEK) bytes of a message of n bytes (the rest zero); `hint`: the
 * protocol the connection's port is known for (sources.l7.ports: the defaults pgsql 5432, mysql
 * 3306, memcached 11211, nats 4222, amqp 5672, and the configured ones), else SL_L7_UNKNOWN.
 * Returns the protocol; *kind says request or response. Only shapes a protocol can start a
 * message with are accepted; ambiguous ones (a bare RESP reply) only as a response on a known
 * connection, and some only on their protocol's port. */
static __always_inline __u8 sl_l7_infer(const __u8 *p, __u32 n, __u8 hint, int *kind)
{
	*kind = 0;
	if (n < 4)
		return SL_L7_UNKNOWN;
	/* NATS: the server speaks first (INFO {...}), the client answers CONNECT {...}: on any port
	 * (before HTTP's CONNECT method, which a JSON object does not follow). */
	if (n >= 8 && p[0] == 'I' && p[1] == 'N' && p[2] == 'F' && p[3] == 'O' && p[4] == ' ' && p[5] == '{') {
		*kind = SL_L7_RESPONSE;
		return SL_L7_NATS;
	}
	if (n >= 11 && p[0] == 'C' && p[1] == 'O' && p[2] == 'N' && p[3] == 'N' && p[4] == 'E' && p[5] == 'C' &&
	    p[6] == 'T' && p[7] == ' ' && p[8] == '{') {
		*kind = SL_L7_REQUEST;
		return SL_L7_NATS;
	}
	/* AMQP 0-9-1: the client's protocol header, on any port. On its port (5672), a connection
	 * joined mid-way: a Basic method frame (class 60): Publish and Ack from a client, Deliver
	 * from the broker. */
	if (n >= 8 && p[0] == 'A' && p[1] == 'M' && p[2] == 'Q' && p[3] == 'P' && p[4] == 0 && p[5] == 0 && p[6] == 9 &&
	    p[7] == 1) {
		*kind = SL_L7_REQUEST;
		return SL_L7_AMQP;
	}
	if (hint == SL_L7_AMQP && n >= 12 && p[0] == 1 && p[7] == 0 && p[8] == 60 && p[9] == 0) {
		if (p[10] == 40 || p[10] == 80) {
			*kind = SL_L7_REQUEST;
			return SL_L7_AMQP;
		}
		if (p[10] == 60) {
			*kind = SL_L7_RESPONSE;
			return SL_L7_AMQP;
		}
	}
	/* HTTP/1: a method and a space, or a status line. */
	if ((*kind = sl_l7_http_start(p, n)))
		return SL_L7_HTTP;
	/* Redis: a command is an array of bulk strings: "*<n>\r\n$". */
	if (p[0] == '*' && sl_l7_digit(p[1]) && n >= 8 &&
	    ((p[2] == '\r' && p[3] == '\n' && p[4] == '$') ||
	     (sl_l7_digit(p[2]) && p[3] == '\r' && p[4] == '\n' && p[5] == '$'))) {
		*kind = SL_L7_REQUEST;
		return SL_L7_REDIS;
	}
	/* PostgreSQL: a startup message (length, protocol 3.0), an SSL/GSS request, or a simple
	 * or extended query message with a plausible length. */
	if (n >= 8) {
		__u32 len = sl_l7_be32(p), code = sl_l7_be32(p + 4);
		if (len == n && (code == 0x00030000 || code == 80877103 || code == 80877104)) {
			*kind = SL_L7_REQUEST;
			return SL_L7_PGSQL;
		}
		__u32 mlen = sl_l7_be32(p + 1);
		if ((p[0] == 'Q' || p[0] == 'P') && mlen >= 5 && mlen + 1 <= n && mlen < (1 << 24) &&
		    (hint == SL_L7_PGSQL || mlen + 1 == n)) {
			*kind = SL_L7_REQUEST;
			return SL_L7_PGSQL;
		}
	}
	/* MySQL: a packet (3-byte length, sequence 0) holding a command, or the server's greeting
	 * (protocol 10). The length must match the bytes read: commands come whole. */
	if (n >= 5) {
		__u32 plen = p[0] | ((__u32)p[1] << 8) | ((__u32)p[2] << 16);
		if (p[3] == 0 && plen + 4 == n) {
			__u8 c = p[4];
			if (c == 0x03 || c == 0x16 || c == 0x17 || c == 0x0e || c == 0x02) {
				*kind = SL_L7_REQUEST;
				return SL_L7_MYSQL;
			}
			if (c == 0x0a && (hint == SL_L7_MYSQL || plen > 40)) {
				*kind = SL_L7_RESPONSE; /* the greeting: the server speaks first */
				return SL_L7_MYSQL;
			}
		}
	}
	/* HTTP/2: the client's connection preface (RFC 9113 3.4), h2c or TLS with ALPN h2. */
	if (n >= 16 && p[0] == 'P' && p[1] == 'R' && p[2] == 'I' && p[3] == ' ' && p[4] == '*' && p[5] == ' ' &&
	    p[6] == 'H' && p[7] == 'T' && p[8] == 'T' && p[9] == 'P' && p[10] == '/' && p[11] == '2') {
		*kind = SL_L7_REQUEST;
		return SL_L7_HTTP2;
	}
	/* HTTP/2 joined mid-way (a connection older than the tracing: gRPC channels live long): a
	 * HEADERS frame (no padding, no priority) on a client stream, whose header block starts
	 * with a request's pseudo-header (:method, :scheme, :path, :authority by the static table)
	 * or a response's :status. */
	if (n >= 10 && p[3] == 1 && !(p[4] & ~0x05) && !(p[5] & 0x80) && (p[8] & 1)) {
		__u32 flen = ((__u32)p[0] << 16) | ((__u32)p[1] << 8) | p[2];
		__u8 b = p[9], idx = b & 0x0f;
		if (flen >= 1 && flen + 9 <= n) {
			if ((b >= 0x82 && b <= 0x87) || ((b & 0xf0) == 0x40 && idx >= 1 && idx <= 7) ||
			    ((b & 0xe0) == 0 && idx >= 1 && idx <= 7)) {
				*kind = SL_L7_REQUEST;
				return SL_L7_HTTP2;
			}
			if ((b >= 0x88 && b <= 0x8e) || b == 0x48 || b == 0x08 || b == 0x18) {
				*kind = SL_L7_RESPONSE;
				return SL_L7_HTTP2;
			}
		}
	}
	/* Memcached on its port (11211): a text command (lower-case letters: "get k", "set k 0 0 5",
	 * "stats", "mg k v") or an answer (upper case: VALUE, END, STORED, STAT ...); a binary
	 * request (magic 0x80) or response (0x81) with the one data type. Elsewhere the same words
	 * are Redis inline commands or anything. (Branch-light: this is inlined in every program.) */
	if (hint == SL_L7_MEMCACHED) {
		__u8 a = p[0], b = p[1];
		if ((a == 0x80 || a == 0x81) && n >= 24 && p[5] == 0) {
			*kind = a == 0x80 ? SL_L7_REQUEST : SL_L7_RESPONSE;
			return SL_L7_MEMCACHED;
		}
		if ((__u8)(a - 'a') < 26 && (__u8)(b - 'a') < 26) {
			*kind = SL_L7_REQUEST;
			return SL_L7_MEMCACHED;
		}
		if ((__u8)(a - 'A') < 26 && (__u8)(b - 'A') < 26) {
			*kind = SL_L7_RESPONSE;
			return SL_L7_MEMCACHED;
		}
	}
	/* NATS on its port (4222), a connection joined mid-way: PUB, HPUB, SUB (the client), MSG,
	 * HMSG (the server). */
	if (hint == SL_L7_NATS) {
		__u32 w = sl_l7_be32(p);
		if (w == 0x50554220 /* "PUB " */ || w == 0x53554220 /* "SUB " */ ||
		    (w == 0x48505542 /* "HPUB" */ && p[4] == ' ')) {
			*kind = SL_L7_REQUEST;
			return SL_L7_NATS;
		}
		if (w == 0x4d534720 /* "MSG " */ || (w == 0x484d5347 /* "HMSG" */ && p[4] == ' ')) {
			*kind = SL_L7_RESPONSE;
			return SL_L7_NATS;
		}
	}
	/* DNS over TCP on any port: a message after its two-byte length, in one buffer (dig and
	 * resolvers that write the length apart: bpf/l7.bpf.c's tcp_dns). */
	if (n >= 19 && (((__u32)p[0] << 8) | p[1]) == n - 2 && sl_l7_infer_dns(p + 2, n - 2, kind) == SL_L7_DNS)
		return SL_L7_DNS;
	*kind = 0;
	return SL_L7_UNKNOWN;
}

/* In-kernel RED (bpf/l7.bpf.c): what a message of a known connection starts. Offsets are
 * constants at every call (the verifier of older kernels refuses variable stack reads). */

/* Up to 8 bytes of p from `off` (zero past SL_L7_PEEK), as a little-endian word: where a method
 * starts. sl_l7_word8 cuts and upper-cases it (once per exchange, not per message). */
static __always_inline __u64 sl_l7_raw8(const __u8 *p, __u32 off)
{
	__u64 w = 0;
	for (int i = 0; i < 8; i++)
		if (off + i < SL_L7_PEEK)
			w |= (__u64)p[off + i] << (8 * i);
	return w;
}

static __always_inline __u64 sl_l7_name8(const char *name)
{
	__u64 w = 0;
	for (int i = 0; i < 8 && name[i]; i++)
		w |= (__u64)(__u8)name[i] << (8 * i);
	return w;
}

/* The leading letters (and '_') of a raw word, upper-cased; the rest zero. */
static __always_inline __u64 sl_l7_word8(__u64 raw)
{
	__u64 out = 0;
	for (int i = 0; i < 8; i++) {
		__u8 c = (raw >> (8 * i)) & 0xff;
		if (c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		if (!((c >= 'A' && c <= 'Z') || c == '_'))
			break;
		out |= (__u64)c << (8 * i);
	}
	return out;
}

/* A message of a connection's request direction, its first min(n, SL_L7_PEEK) bytes in p: 1 if
 * it starts a request (*m: the raw bytes where its method is; sl_l7_word8 cuts them), 0 if it
 * continues one or needs no answer. A write of
 * pipelined Redis commands is counted by walking it (the kernel side); here it is one. */
static __always_inline int sl_l7_request_start(__u8 proto, const __u8 *p, __u32 n, __u64 *m)
{
	if (proto == SL_L7_HTTP) {
		if (n < 4 || sl_l7_http_start(p, n) != SL_L7_REQUEST)
			return 0;
		*m = sl_l7_raw8(p, 0);
		return 1;
	}
	if (proto == SL_L7_REDIS) {
		/* *<n>\r\n$<len>\r\n<command>: one or two digits each */
		if (p[0] != '*' || !sl_l7_digit(p[1]) || n < 8)
			return 0;
		if (p[2] == '\r' && p[4] == '$') {
			if (p[6] == '\r')
				*m = sl_l7_raw8(p, 8);
			else if (p[7] == '\r')
				*m = sl_l7_raw8(p, 9);
			return 1;
		}
		if (sl_l7_digit(p[2]) && p[3] == '\r' && p[5] == '$') {
			if (p[7] == '\r')
				*m = sl_l7_raw8(p, 9);
			else if (p[8] == '\r')
				*m = sl_l7_raw8(p, 10);
			return 1;
		}
		return 0;
	}
	if (proto == SL_L7_PGSQL) {
		if (n < 5)
			return 0;
		__u32 len = sl_l7_be32(p + 1);
		if (len < 4 || len >= (1u << 30))
			return 0;
		if (p[0] == 'Q') {
			*m = sl_l7_raw8(p, 5);
			return 1;
		}
		if (p[0] == 'P' && p[5] == 0) { /* the unnamed statement: its text follows */
			*m = sl_l7_raw8(p, 6);
			return 1;
		}
		if (p[0] == 'P') { /* a named statement prepared: its own round trip */
			*m = sl_l7_name8("PREPARE");
			return 1;
		}
		if (p[0] == 'B') {
			*m = sl_l7_name8("EXECUTE");
			return 1;
		}
		return 0;
	}
	if (proto == SL_L7_MYSQL) {
		__u32 plen = p[0] | ((__u32)p[1] << 8) | ((__u32)p[2] << 16);
		if (n < 5 || p[3] != 0 || plen == 0 || plen + 4 > n)
			return 0;
		switch (p[4]) { /* the commands that are answered */
		case 0x03: *m = sl_l7_raw8(p, 5); return 1;
		case 0x16: *m = sl_l7_name8("PREPARE"); return 1;
		case 0x17: *m = sl_l7_name8("EXECUTE"); return 1;
		case 0x0e: *m = sl_l7_name8("PING"); return 1;
		case 0x02: *m = sl_l7_name8("USE"); return 1;
		}
		return 0;
	}
	return 0;
}

/* A message of the response direction while requests wait: 1 if it answers them (*st: HTTP's
 * class digit, else SL_L7_ST_OK/SL_L7_ST_ERROR), 0 if not (HTTP 1xx, not a response's start). */
static __always_inline int sl_l7_response(__u8 proto, const __u8 *p, __u32 n, __u8 *st)
{
	*st = SL_L7_ST_OK;
	if (proto == SL_L7_HTTP) {
		if (n < 12 || p[0] != 'H' || p[1] != 'T' || p[2] != 'T' || p[3] != 'P' || p[4] != '/' ||
		    p[9] < '2' || p[9] > '5')
			return 0;
		*st = p[9] - '0';
		return 1;
	}
	if (proto == SL_L7_REDIS) {
		__u8 c = p[0];
		if (!(c == '+' || c == '-' || c == ':' || c == '$' || c == '*' || c == '_' || c == ',' ||
		      c == '#' || c == '!' || c == '=' || c == '(' || c == '%' || c == '~' || c == '>' || c == '|'))
			return 0;
		if (c == '-' || c == '!')
			*st = SL_L7_ST_ERROR;
		return 1;
	}
	if (proto == SL_L7_PGSQL) {
		/* an ErrorResponse first, or after one or two empty messages (ParseComplete,
		 * BindComplete: length 4) */
		if (n < 5)
			return 0;
		if (p[0] == 'E' || (sl_l7_be32(p + 1) == 4 && n >= 10 &&
				    (p[5] == 'E' || (sl_l7_be32(p + 6) == 4 && n >= 11 && p[10] == 'E'))))
			*st = SL_L7_ST_ERROR;
		return 1;
	}
	if (proto == SL_L7_MYSQL) {
		if (n < 5)
			return 0;
		if (p[4] == 0xff)
			*st = SL_L7_ST_ERROR;
		return 1;
	}
	return 0;
}

/* The error flag of a key's status. */
static __always_inline int sl_l7_status_error(__u8 proto, __u8 st)
{
	return proto == SL_L7_HTTP ? st == 5 : st == SL_L7_ST_ERROR;
}

/* The latency bucket of l7_red for ns: how many of 2^(MIN_POW+1) .. 2^(MIN_POW+BUCKETS-1) it
 * reaches, from its top bit (a count of 25 compares kept its flags on red_add's stack: 152 bytes
 * of frame against 56, the programs' call chains at the verifier's combined bound). */
static __always_inline __u32 sl_l7_red_bucket(__u64 ns)
{
	__u32 msb = sl_log2_u64(ns);
	if (msb <= SL_L7_RED_MIN_POW)
		return 0;
	msb -= SL_L7_RED_MIN_POW;
	return msb < SL_L7_RED_BUCKETS ? msb : SL_L7_RED_BUCKETS - 1;
}

#endif
