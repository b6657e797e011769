/* uprobe source ABI: user-space functions by symbol, counted per process, timed into
 * histograms, and optionally streamed with arguments and return value. */
#ifndef SIGHTLINE_UPROBE_H
#define SIGHTLINE_UPROBE_H

#include "sightline/common.h"
#include "sightline/hist.h"

#define SL_UPROBE_MAX_PROBES 256   /* functions attached at once (the probe id is the cookie) */
#define SL_UPROBE_MAX_KEYS 16384   /* (probe, process) counters */
#define SL_UPROBE_MAX_INFLIGHT 16384 /* calls entered and not returned yet (latency) */
#define SL_UPROBE_ARGS 6
#define SL_UPROBE_STR 64

struct sl_uprobe_key {
	__u32 probe;
	__u32 tgid;
};

/* What to capture of a probe, set by user space in a map before attaching. */
struct sl_uprobe_conf {
	__u8 latency; /* enter+return: time each call */
	__u8 stream;  /* one event per call (arguments, return value, latency) */
	__u8 str_arg; /* 1-based argument read as a user string, 0: none */
	__u8 pad[5];
};

struct sl_uprobe_event {
	struct sl_event_hdr hdr; /* kind SL_EV_UPROBE */
	__u32 probe;
	__u32 pad;
	__u64 args[SL_UPROBE_ARGS];
	__s64 ret;
	__u64 latency_ns; /* 0 without latency */
	char str[SL_UPROBE_STR];
};

#endif
