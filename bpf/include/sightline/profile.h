/* profile source ABI: stack samples (perf_event cpu-clock) and off-CPU time (sched_switch),
 * both aggregated in the kernel by (process, kernel stack, user stack). */
#ifndef SIGHTLINE_PROFILE_H
#define SIGHTLINE_PROFILE_H

#include "sightline/common.h"

#define SL_PROF_STACK_DEPTH 127     /* frames per stack (the kernel's PERF_MAX_STACK_DEPTH) */
#define SL_PROF_MAX_STACKS 16384    /* distinct stacks between two reads */
#define SL_PROF_MAX_KEYS 16384      /* distinct (process, stacks) between two reads */

struct sl_prof_key {
	__u32 tgid;
	__s32 kstack; /* stack id, or -errno (-EFAULT: no user stack, e.g. a kernel thread) */
	__s32 ustack; /* stack id; SL_PROF_USTACK_TABLE: unwound in the kernel, in ustacks[uhash] */
	__u32 offcpu; /* 0: samples (value: count); 1: off-CPU (value: ns blocked) */
	char comm[SL_COMM_LEN];
	__u64 uhash;  /* the key of the unwound user stack in ustacks */
};

/* In-kernel unwinding (unwind: kernel). User space turns the .eh_frame CFI of every executable
 * file a profiled process maps into a table of rows sorted by address (symbols/unwind_table.cpp)
 * kept in one array (unw_rows; files shared between processes), and gives each process its
 * mappings with where their rows are (unw_procs). The profiler walks the user stack with them:
 * each frame's CFA from rsp or rbp plus an offset, the return address at CFA-8, rbp where the row
 * says it was saved. A frame without a row is walked by its frame pointer (counted). */
#define SL_PROF_USTACK_TABLE (-1000)
#define SL_UNW_MAX_MAPS 64 /* executable mappings with tables per process */

enum sl_unw_cfa {
	SL_UNW_CFA_END = 0,  /* the return address is undefined: the outermost frame (_start, clone3) */
	SL_UNW_CFA_RSP = 1,  /* CFA = rsp + cfa_off */
	SL_UNW_CFA_RBP = 2,  /* CFA = rbp + cfa_off */
	SL_UNW_CFA_PLT = 3,  /* a PLT entry: CFA = rsp + 8, + 8 more when (rip & 15) >= cfa_off */
	SL_UNW_CFA_NONE = 4, /* no row covers the address, or a rule we do not follow: frame pointers */
};

#define SL_UNW_RBP_LOST (-128)

/* 8 bytes: the array map's stride is the value size rounded up to 8. */
struct sl_unw_row {
	__u32 pc;      /* link-time address where the row starts (files whose code lies above 4 GiB get none) */
	__s16 cfa_off; /* CFA = the register + cfa_off (SL_UNW_CFA_PLT: the threshold); larger frames: NONE */
	__u8 cfa;      /* enum sl_unw_cfa */
	/* 0: rbp is the caller's; SL_UNW_RBP_LOST: not recoverable; else saved at CFA + 8 * rbp */
	__s8 rbp;
};

struct sl_unw_map {
	__u64 start, end; /* the executable mapping */
	__u64 bias;       /* link-time address = address - bias */
	__u32 row, rows;  /* its file's rows in unw_rows; rows 0: no table (frame pointers) */
};

/* CPython: where the walk finds the interpreter's frames (symbols/python_frames.cpp pins the
 * offsets per version). The thread holding the GIL is _PyRuntime's tstate_current; a sampled
 * thread that is it has its frames appended to the native ones, each SL_UNW_PY_FRAME-tagged. */
struct sl_unw_python {
	__u64 runtime;          /* _PyRuntime's address in the process; 0: not Python */
	__u16 tstate_current;   /* _PyRuntime.gilstate.tstate_current */
	__u16 ts_cframe;        /* PyThreadState.cframe */
	__u16 ts_tid;           /* PyThreadState.native_thread_id */
	__u16 cframe_current;   /* _PyCFrame.current_frame */
	__u16 frame_code;       /* _PyInterpreterFrame.f_code */
	__u16 frame_previous;   /* _PyInterpreterFrame.previous */
	__u16 frame_prev_instr; /* _PyInterpreterFrame.prev_instr */
	__u16 frame_is_entry;   /* _PyInterpreterFrame.is_entry: the first frame of a C-level eval call */
	__u16 code_adaptive;    /* PyCodeObject.co_code_adaptive: its code units */
	__u16 pad1;
	__u32 pad2;
};

#define SL_UNW_PY_FRAME (1ULL << 63)       /* a Python frame: code object | index << 47 */
#define SL_UNW_PY_ENTRY (1ULL << 62)       /* ... the first of its eval call */
#define SL_UNW_PY_INDEX_SHIFT 47           /* the code unit it runs (prev_instr), capped */
#define SL_UNW_PY_INDEX_MAX 0x7fffULL
#define SL_UNW_PY_CODE_MASK ((1ULL << 47) - 1)
#define SL_UNW_PY_MAX_FRAMES 64

struct sl_unw_proc {
	__u32 n; /* maps, sorted by start */
	__u32 pad;
	struct sl_unw_python py;
	struct sl_unw_map maps[SL_UNW_MAX_MAPS];
};

/* An unwound user stack (ustacks' value): program counters, leaf first. */
struct sl_unw_stack {
	__u32 n; /* frames in ips */
	__u32 pad;
	__u64 ips[SL_PROF_STACK_DEPTH];
};

/* Counters of the in-kernel walk (per CPU, summed by user space). */
enum sl_unw_stat {
	SL_UNW_FRAMES_TABLE = 0, /* frames unwound by a table row */
	SL_UNW_FRAMES_FP = 1,    /* frames unwound by the frame pointer (no table or row) */
	SL_UNW_STACKS_END = 2,   /* stacks that reached a row marking the outermost frame */
	SL_UNW_STACKS_TRUNC = 3, /* stacks cut at the depth bound */
	SL_UNW_ASKED = 4,        /* processes (or new mappings) asked of user space */
	SL_UNW_STAT_MAX = 5,
};

/* A process whose mappings the unwinder does not know (new, exec'd, or new code mapped). */
struct sl_prof_ask {
	__u32 kind; /* SL_EV_PROFILE */
	__u32 tgid;
	__u32 ask;  /* 1: distinguishes it from a sample */
	__u32 pad;
};

/* Per-request stacks: the samples and off-CPU time of a thread while it serves a request (the
 * sched source's `serving` mark, set by l7), by (thread, request start, stacks). */
#define SL_PROF_MAX_REQ_KEYS 2048

struct sl_prof_req_key {
	__u32 tgid;
	__u32 tid;
	__u64 start;  /* the request's start (sl_now): the request event's ts_boot_ns */
	__s32 kstack;
	__s32 ustack;
	__u32 offcpu; /* 0: samples; 1: off-CPU ns */
	__u32 pad;
	char comm[SL_COMM_LEN]; /* the thread's */
	__u64 uhash;            /* as sl_prof_key's */
};

/* DWARF mode: each on-CPU sample carries the top of the user stack and the user registers;
 * user space unwinds it with the CFI of the mapped files. */
#define SL_PROF_USTACK_CHUNK 512
#define SL_PROF_USTACK_CHUNKS 16 /* 8 KiB, what perf --call-graph dwarf copies by default */

struct sl_prof_sample {
	__u32 kind; /* SL_EV_PROFILE */
	__u32 tgid;
	__u32 tid;
	__s32 kstack;
	char comm[SL_COMM_LEN];
	__u64 ip, sp, bp;    /* user registers at the sample */
	__u64 stack_base;    /* address of stack[0]: sp rounded down to a chunk */
	__u32 stack_len;     /* bytes copied: up to the end of the stack mapping */
	__u32 pad;
	__u8 stack[SL_PROF_USTACK_CHUNK * SL_PROF_USTACK_CHUNKS];
};

#endif
