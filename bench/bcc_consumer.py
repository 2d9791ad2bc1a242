#!/usr/bin/env python3
# bcc's Python ring buffer consumer, which dist/bench/run.js runs where bcc can compile
# (scripts/bench-bcc.sh: under QEMU, see BENCHMARKS.md):
#
#   python3 bench/bcc_consumer.py <baseline> <records-per-fill> <repeats>
#
# The same case as the bench's "ring 64 B": an XDP program that writes one numbered 64-byte
# record per run into a ring buffer, run with BPF_PROG_TEST_RUN and a repeat count by the
# C baseline (`baseline fill-fd`, given this program's fd), then drained. bcc compiles the
# program from the C text below with clang at run time, against the running kernel's
# headers: it runs only where those are installed (the QEMU harness, on Debian's kernel).
# The consumer is bcc's own: open_ring_buffer() with a Python callback per record, drained
# with ring_buffer_consume(); the callback reads each record's sequence number, as the C
# baseline reads the first 8 bytes. Prints one JSON sample per repeat, as the baseline does.
import ctypes
import json
import resource
import subprocess
import sys
import time

from bcc import BPF

TEXT = r"""
BPF_RINGBUF_OUTPUT(ring, 1 << 16); /* pages: 256 MiB, as the bench's ring */
BPF_ARRAY(sequence, u64, 1);

int fill_64(struct xdp_md *ctx)
{
	int zero = 0;
	u64 *seq = sequence.lookup(&zero);
	u64 *r;

	if (!seq)
		return XDP_PASS;
	r = ring.ringbuf_reserve(64);
	if (!r)
		return XDP_PASS;
	r[0] = (*seq)++;
	ring.ringbuf_submit(r, 0);
	return XDP_PASS;
}
"""

RECORD = 64
RING_BYTES = (1 << 16) * 4096


def cpu_seconds():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def main():
    baseline, records, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    n = min(records, RING_BYTES // (RECORD + 8) - 1)
    b = BPF(text=TEXT)
    fill = b.load_func("fill_64", BPF.XDP)
    state = {"count": 0, "sum": 0}
    u64 = ctypes.POINTER(ctypes.c_uint64)

    def on_record(_ctx, data, _size):
        state["count"] += 1
        state["sum"] += ctypes.cast(data, u64)[0]
        return 0

    b["ring"].open_ring_buffer(on_record)
    for _ in range(repeats):
        state["count"] = 0
        subprocess.run([baseline, "fill-fd", str(fill.fd), str(n)], pass_fds=[fill.fd], check=True)
        cpu = cpu_seconds()
        t = time.monotonic()
        while state["count"] < n:
            b.ring_buffer_consume()
            if time.monotonic() - t > 120:
                sys.exit(f"bcc: {state['count']} records drained, {n} filled")
        seconds = time.monotonic() - t
        print(json.dumps({"case": "bcc_ring_64", "seconds": seconds, "cpu": cpu_seconds() - cpu,
                          "count": state["count"], "bytes": state["count"] * RECORD}), flush=True)


if __name__ == "__main__":
    main()
