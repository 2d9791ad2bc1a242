/* Shared between execsnoop.bpf.c and the layout constants of execsnoop.ts. */
#ifndef EXECSNOOP_H
#define EXECSNOOP_H

#define TASK_COMM_LEN 16
#define ARG_SIZE 128                       /* longest argument kept, NUL included */
#define ARGS_LIMIT 60                      /* most arguments --max-args accepts */
#define ARGS_BYTES (ARGS_LIMIT * ARG_SIZE)
#define ARGS_LAST_START (ARGS_BYTES - ARG_SIZE)

struct config {
	__u32 filter_uid; /* 1: report only uid */
	__u32 uid;
	__u32 max_args;
};

/* One execve: what user space receives, cut after args_size bytes of args. */
struct event {
	__u64 time_ns;    /* CLOCK_MONOTONIC at the syscall's return */
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__s32 retval;
	__u32 args_count; /* arguments read, plus one when more were left out */
	__u32 args_size;  /* bytes used in args: NUL-separated strings */
	char comm[TASK_COMM_LEN];
	char args[ARGS_BYTES];
};

#endif
