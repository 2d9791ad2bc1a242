/* SPDX-License-Identifier: MIT */
/*
 * Ring buffer helpers for the `ebpf` package: counting the records a BPF ring buffer could
 * not take, and keeping record types in BTF.
 *
 * The kernel does not count failed reservations. Declare a counter next to the ring:
 *
 *     struct { __uint(type, BPF_MAP_TYPE_RINGBUF); ... } events SEC(".maps");
 *     EBPF_RINGBUF_DROPS(events);
 *
 * and reserve or output through these macros:
 *
 *     struct event *e = ebpf_ringbuf_reserve(events, sizeof(*e), 0);
 *     ebpf_ringbuf_output(events, &e, sizeof(e), 0);
 *
 * Each failure adds one to the per-CPU map `events__dropped`, which the package's
 * RingBuffer reader finds by name and reports as `stats.dropped`.
 */
#ifndef EBPF_RINGBUF_H
#define EBPF_RINGBUF_H

#define EBPF_RINGBUF_DROPS(ring)                          \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);  \
		__uint(max_entries, 1);                   \
		__type(key, __u32);                       \
		__type(value, __u64);                     \
	} ring##__dropped SEC(".maps")

#define __ebpf_ringbuf_count_drop(ring)                                  \
	({                                                               \
		__u32 __ebpf_zero = 0;                                   \
		__u64 *__ebpf_n = bpf_map_lookup_elem(&ring##__dropped, \
						      &__ebpf_zero);    \
		if (__ebpf_n)                                            \
			*__ebpf_n += 1;                                  \
	})

/* bpf_ringbuf_reserve(&ring, size, flags), counting a failure. */
#define ebpf_ringbuf_reserve(ring, size, flags)                                  \
	({                                                                       \
		void *__ebpf_rec = bpf_ringbuf_reserve(&ring, size, flags);       \
		if (!__ebpf_rec)                                                 \
			__ebpf_ringbuf_count_drop(ring);                         \
		__ebpf_rec;                                                      \
	})

/* bpf_ringbuf_output(&ring, data, size, flags), counting a failure. */
#define ebpf_ringbuf_output(ring, data, size, flags)                             \
	({                                                                       \
		long __ebpf_err = bpf_ringbuf_output(&ring, data, size, flags);   \
		if (__ebpf_err)                                                  \
			__ebpf_ringbuf_count_drop(ring);                         \
		__ebpf_err;                                                      \
	})

/*
 * Keeps `struct name` in the object's BTF, so that user space can decode records by type
 * name (ringBuffer({ type: 'event' })): clang only describes types that a map, a global
 * or a function signature uses, and a record reserved as `void *` is none of those.
 *
 *     EBPF_RECORD_TYPE(event);
 *
 * It costs one pointer in .bss.
 */
#define EBPF_RECORD_TYPE(name) struct name *__ebpf_record_##name __attribute__((unused))

#endif /* EBPF_RINGBUF_H */
