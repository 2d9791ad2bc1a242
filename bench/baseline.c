// The C libbpf baseline: the same bench.bpf.o, the same fills, drained and operated on
// with libbpf directly. Prints one JSON object per case on stdout.
//   baseline <bench.bpf.o> <records-per-fill> <repeats>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t checksum;

static int on_sample(void *ctx, void *data, size_t size) {
  (void)ctx;
  (void)size;
  checksum += *(uint64_t *)data;
  return 0;
}

static long perf_seen;

static void on_perf_sample(void *ctx, int cpu, void *data, __u32 size) {
  (void)ctx;
  (void)cpu;
  (void)size;
  checksum += *(uint64_t *)data;
  perf_seen++;
}

static void fill(struct bpf_object *obj, const char *prog, int n) {
  char packet[64] = {0};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof(packet), .repeat = n);
  int fd = bpf_program__fd(bpf_object__find_program_by_name(obj, prog));
  if (bpf_prog_test_run_opts(fd, &opts) != 0) {
    perror("test_run");
    exit(1);
  }
}

// Our own consumer over the ring's mmapped pages, for comparison with libbpf's.
struct own_ring {
  unsigned long *consumer;
  unsigned long *producer;
  uint8_t *data;
  unsigned long mask;
};

static struct own_ring own_ring_open(int fd, size_t size) {
  struct own_ring r;
  long page = sysconf(_SC_PAGESIZE);
  r.consumer = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  void *p = mmap(NULL, page + 2 * size, PROT_READ, MAP_SHARED, fd, page);
  if (r.consumer == MAP_FAILED || p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  r.producer = p;
  r.data = (uint8_t *)p + page;
  r.mask = size - 1;
  return r;
}

static long own_ring_consume(struct own_ring *r) {
  long n = 0;
  unsigned long cons = atomic_load_explicit((_Atomic unsigned long *)r->consumer, memory_order_acquire);
  for (;;) {
    unsigned long prod = atomic_load_explicit((_Atomic unsigned long *)r->producer, memory_order_acquire);
    if (cons >= prod) break;
    while (cons < prod) {
      uint32_t *hdr = (uint32_t *)(r->data + (cons & r->mask));
      uint32_t len = atomic_load_explicit((_Atomic uint32_t *)hdr, memory_order_acquire);
      if (len & BPF_RINGBUF_BUSY_BIT) goto done;
      if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
        checksum += *(uint64_t *)(hdr + 2);
        n++;
      }
      cons += ((len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)) + BPF_RINGBUF_HDR_SZ + 7) & ~7UL;
      atomic_store_explicit((_Atomic unsigned long *)r->consumer, cons, memory_order_release);
    }
  }
done:
  return n;
}

static void report(const char *name, double seconds, long count, long bytes) {
  printf("{\"case\":\"%s\",\"seconds\":%.9f,\"count\":%ld,\"bytes\":%ld}\n", name, seconds, count, bytes);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: baseline <bench.bpf.o> <records-per-fill> <repeats>\n");
    return 2;
  }
  int records = atoi(argv[2]);
  int repeats = atoi(argv[3]);
  libbpf_set_print(NULL);
  struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
  if (!obj || bpf_object__load(obj)) {
    fprintf(stderr, "cannot load %s\n", argv[1]);
    return 1;
  }
  struct bpf_map *ring = bpf_object__find_map_by_name(obj, "ring");
  int ring_fd = bpf_map__fd(ring);
  static const int sizes[] = {8, 64, 256, 1024};
  char name[64];

  struct ring_buffer *rb = ring_buffer__new(ring_fd, on_sample, NULL, NULL);
  for (int s = 0; s < 4; s++) {
    int n = records;
    long max = (long)bpf_map__max_entries(ring) / (sizes[s] + 8) - 1;
    if (n > max) n = (int)max;
    snprintf(name, sizeof(name), "fill_%d", sizes[s]);
    for (int r = 0; r < repeats; r++) {
      fill(obj, name, n);
      double t = now();
      int got = ring_buffer__consume(rb);
      double dt = now() - t;
      char label[64];
      snprintf(label, sizeof(label), "ring_%d", sizes[s]);
      report(label, dt, got, (long)got * sizes[s]);
    }
    for (int r = 0; r < repeats; r++) {
      struct own_ring own = own_ring_open(ring_fd, bpf_map__max_entries(ring));
      fill(obj, name, n);
      double t = now();
      long got = own_ring_consume(&own);
      double dt = now() - t;
      char label[64];
      snprintf(label, sizeof(label), "ring_own_%d", sizes[s]);
      report(label, dt, got, got * sizes[s]);
      munmap(own.consumer, sysconf(_SC_PAGESIZE));
      munmap(own.producer, sysconf(_SC_PAGESIZE) + 2 * bpf_map__max_entries(ring));
    }
  }
  ring_buffer__free(rb);

  // Perf buffer, 64-byte samples; 1024 pages per CPU hold one fill.
  struct perf_buffer *pb = perf_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "perf")), 1024, on_perf_sample, NULL, NULL, NULL);
  int perf_n = records < 40000 ? records : 40000;
  for (int r = 0; r < repeats; r++) {
    fill(obj, "perf_64", perf_n);
    perf_seen = 0;
    double t = now();
    int err = perf_buffer__consume(pb);
    double dt = now() - t;
    if (err < 0) fprintf(stderr, "perf consume: %d\n", err);
    report("perf_64", dt, perf_seen, perf_seen * 64);
  }
  perf_buffer__free(pb);

  // Hash map: lookups and updates one at a time, then a full dump of 100k entries.
  int table = bpf_map__fd(bpf_object__find_map_by_name(obj, "table"));
  const int ops = 200000;
  for (int r = 0; r < repeats; r++) {
    double t = now();
    for (uint32_t k = 0; k < (uint32_t)ops; k++) {
      uint64_t v = k;
      bpf_map_update_elem(table, &k, &v, BPF_ANY);
    }
    report("map_update", now() - t, ops, 0);
    t = now();
    for (uint32_t k = 0; k < (uint32_t)ops; k++) {
      uint64_t v;
      bpf_map_lookup_elem(table, &k, &v);
      checksum += v;
    }
    report("map_lookup", now() - t, ops, 0);
  }
  for (int r = 0; r < repeats; r++) {
    uint32_t keys[4096];
    uint64_t values[4096];
    uint64_t token = 0;
    long total = 0;
    double t = now();
    for (int first = 1;; first = 0) {
      __u32 count = 4096;
      int err = bpf_map_lookup_batch(table, first ? NULL : &token, &token, keys, values, &count, NULL);
      total += count;
      for (__u32 i = 0; i < count; i++) checksum += values[i];
      if (err) break;
    }
    report("map_dump_batch", now() - t, total, 0);
  }

  // A .bss variable read through the mmapped section, and through the lookup syscall.
  struct bpf_map *bss = NULL;
  bpf_object__for_each_map(bss, obj) if (strstr(bpf_map__name(bss), ".bss")) break;
  size_t bss_size;
  volatile uint64_t *seq = bpf_map__initial_value(bss, &bss_size);
  for (int r = 0; r < repeats; r++) {
    const long reads = 20000000;
    double t = now();
    for (long i = 0; i < reads; i++) checksum += *seq;
    report("global_mmap", now() - t, reads, 0);
  }
  fprintf(stderr, "checksum %lu\n", (unsigned long)checksum);
  bpf_object__close(obj);
  return 0;
}
