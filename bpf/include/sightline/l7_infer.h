/* Which protocol a message's first bytes speak, and whether they are a request: the same code
 * in the kernel (to decide what to stream) and in user space (tests, parsers' resync). Plain C
 * over at most SL_L7_PEEK bytes; no loops the verifier cannot bound. */
#ifndef SIGHTLINE_L7_INFER_H
#define SIGHTLINE_L7_INFER_H

#include "sightline/l7.h"

#define SL_L7_PEEK 16

#define SL_L7_REQUEST 1
#define SL_L7_RESPONSE 2

static __always_inline int sl_l7_digit(__u8 c) { return c >= '0' && c <= '9'; }

static __always_inline __u32 sl_l7_be32(const __u8 *p)
{
	return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

/* `p`: the first min(n, SL_L7_PEEK) bytes of a message of n bytes (the rest zero). Returns the
 * protocol; *kind says request or response. Only shapes a protocol can start a message with
 * are accepted; ambiguous ones (a bare RESP reply) only as a response on a known connection. */
static __always_inline __u8 sl_l7_infer(const __u8 *p, __u32 n, __u16 lport, __u16 rport, int *kind)
{
	*kind = 0;
	if (n < 4)
		return SL_L7_UNKNOWN;
	/* HTTP/1: a method and a space, or a status line. */
	if (p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && n >= 5 && p[4] == '/') {
		*kind = SL_L7_RESPONSE;
		return SL_L7_HTTP;
	}
	if ((p[0] == 'G' && p[1] == 'E' && p[2] == 'T' && p[3] == ' ') ||
	    (p[0] == 'P' && p[1] == 'U' && p[2] == 'T' && p[3] == ' ') ||
	    (p[0] == 'P' && p[1] == 'O' && p[2] == 'S' && p[3] == 'T') ||
	    (p[0] == 'H' && p[1] == 'E' && p[2] == 'A' && p[3] == 'D') ||
	    (p[0] == 'D' && p[1] == 'E' && p[2] == 'L' && p[3] == 'E') ||
	    (p[0] == 'P' && p[1] == 'A' && p[2] == 'T' && p[3] == 'C') ||
	    (p[0] == 'O' && p[1] == 'P' && p[2] == 'T' && p[3] == 'I') ||
	    (p[0] == 'C' && p[1] == 'O' && p[2] == 'N' && p[3] == 'N') ||
	    (p[0] == 'T' && p[1] == 'R' && p[2] == 'A' && p[3] == 'C')) {
		*kind = SL_L7_REQUEST;
		return SL_L7_HTTP;
	}
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
		    (rport == 5432 || lport == 5432 || mlen + 1 == n)) {
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
			if (c == 0x0a && (lport == 3306 || rport == 3306 || plen > 40)) {
				*kind = SL_L7_RESPONSE; /* the greeting: the server speaks first */
				return SL_L7_MYSQL;
			}
		}
	}
	return SL_L7_UNKNOWN;
}

/* A DNS message's header and the start of its question (RFC 1035 4.1): standard query opcode,
 * one question, a first label of 0-63 bytes, at most a few hundred records. For datagrams on
 * any port (DNS on 53 is taken by its port alone). */
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

#endif
