/* tracepoint source ABI: any tracepoint through one generic program; what to do with each
 * attached tracepoint (stream its record, count by a field, histogram a field) is in a map
 * indexed by the attach cookie. */
#ifndef SIGHTLINE_TRACEPOINT_H
#define SIGHTLINE_TRACEPOINT_H

#include "sightline/common.h"
#include "sightline/hist.h"

#define SL_TP_MAX_PROBES 64
#define SL_TP_MAX_KEYS 8192 /* (probe, field value) counters */
#define SL_TP_KEY 32        /* bytes of a field value a count is keyed by */
#define SL_TP_DATA 1024     /* bytes of a record copied when streaming */

enum sl_tp_mode {
	SL_TP_STREAM = 0,
	SL_TP_COUNT = 1,
	SL_TP_HIST = 2,
};

struct sl_tp_conf {
	__u32 mode;
	__u32 offset;   /* of the field counted or measured */
	__u32 size;     /* its size (<= SL_TP_KEY for counts; 1, 2, 4, 8 for histograms) */
	__u32 data_loc; /* the field is a __data_loc string: (len << 16 | offset) at `offset` */
	__u32 is_signed;
	__u32 fixed;    /* bytes of the record's fixed part: copied when a full copy cannot be */
};

struct sl_tp_key {
	__u32 probe;
	__u32 pad;
	__u8 value[SL_TP_KEY];
};

struct sl_tp_event {
	struct sl_event_hdr hdr; /* kind SL_EV_TRACEPOINT */
	__u32 probe;
	__u32 pad;
	__u8 data[SL_TP_DATA]; /* the record from its start (common_type ...) */
};

#endif
