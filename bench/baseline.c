// The C libbpf baseline: the same bench.bpf.o, the same fills, drained and operated on
// with libbpf directly. Prints one JSON object per case on stdout.
//   baseline <bench.bpf.o> <records-per-fill> <repeats> [live-calls]
//   baseline produce <calls>    the live producer: waits for a byte on stdin, then calls
//                               getppid() <calls> times (the bench's Node side uses it too)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// CPU time of the whole process (user + system), as Node's process.cpuUsage() counts it.
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_start;

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

/* Runs the XDP program `fd` n times on a 64-byte packet. */
static void fill_fd(int fd, int n) {
  char packet[64] = {0};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof(packet), .repeat = n);
  if (bpf_prog_test_run_opts(fd, &opts) != 0) {
    perror("test_run");
    exit(1);
  }
}

static void fill(struct bpf_object *obj, const char *prog, int n) {
  fill_fd(bpf_program__fd(bpf_object__find_program_by_name(obj, prog)), n);
}

/* The same fill made by another process (a fork, sharing the program's fd), this one
 * waiting for it to end: the consumer's thread is not the producer. */
static void fill_elsewhere(struct bpf_object *obj, const char *prog, int n) {
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    exit(1);
  }
  if (child == 0) {
    fill(obj, prog, n);
    _exit(0);
  }
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "fill in a child failed\n");
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

// Each case sets cpu_start (with its wall-clock start) before the timed part.
static void produce(long calls) {
  char go;
  if (read(0, &go, 1) != 1) exit(1);
  for (long i = 0; i < calls; i++) syscall(SYS_getppid);
}

// Live: a child calls getppid(); the tracepoint `program` writes `burst` records carrying
// bpf_ktime_get_ns() for each call (records / burst calls); we consume with
// ring_buffer__poll and take each record's latency against CLOCK_MONOTONIC (the clock
// bpf_ktime_get_ns reads). Reported as case `name`.
#define LIVE_BURST 16  // bench.bpf.c's, records per call of on_getppid_burst
static uint64_t *latencies;
static long live_seen, live_capacity;

static int on_live(void *ctx, void *data, size_t size) {
  (void)ctx;
  (void)size;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t now_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
  if (live_seen < live_capacity) latencies[live_seen] = now_ns - *(uint64_t *)data;
  live_seen++;
  return 0;
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t sum_per_cpu(int fd) {
  int cpus = libbpf_num_possible_cpus();
  uint64_t values[cpus > 0 ? cpus : 1], total = 0;
  uint32_t zero = 0;
  if (cpus > 0 && bpf_map_lookup_elem(fd, &zero, values) == 0)
    for (int i = 0; i < cpus; i++) total += values[i];
  return total;
}

static void live(struct bpf_object *obj, const char *program, long burst, long records, const char *name) {
  long calls = records / burst;
  long expected = calls * burst;
  struct bpf_map *tgid_map = NULL;
  bpf_object__for_each_map(tgid_map, obj) if (strstr(bpf_map__name(tgid_map), ".data.live")) break;
  size_t tgid_size;
  volatile uint32_t *tgid = tgid_map ? bpf_map__initial_value(tgid_map, &tgid_size) : NULL;
  struct bpf_link *link = bpf_program__attach(bpf_object__find_program_by_name(obj, program));
  if (!tgid || !link) {
    fprintf(stderr, "live: cannot attach the tracepoint or find .data.live\n");
    exit(1);
  }
  int go[2];
  if (pipe(go) != 0) exit(1);
  pid_t child = fork();
  if (child == 0) {
    dup2(go[0], 0);
    close(go[1]);
    produce(calls);
    _exit(0);
  }
  close(go[0]);
  *tgid = (uint32_t)child;
  int dropped_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "live__dropped"));
  uint64_t dropped_before = sum_per_cpu(dropped_fd);
  live_capacity = expected;
  latencies = calloc(expected, sizeof(*latencies));
  live_seen = 0;
  struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "live")), on_live, NULL, NULL);
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  double t = now();
  if (write(go[1], "g", 1) != 1) exit(1);
  int exited = 0;
  for (;;) {
    int n = ring_buffer__poll(rb, 100);
    if (!exited && waitpid(child, NULL, WNOHANG) == child) exited = 1;
    uint64_t dropped = sum_per_cpu(dropped_fd) - dropped_before;
    if (live_seen + (long)dropped >= expected || (exited && n == 0)) break;
  }
  double dt = now() - t;
  getrusage(RUSAGE_SELF, &r1);
  if (!exited) waitpid(child, NULL, 0);
  double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
               (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
  long kept = live_seen < live_capacity ? live_seen : live_capacity;
  qsort(latencies, kept, sizeof(*latencies), compare_u64);
  printf("{\"case\":\"%s\",\"seconds\":%.9f,\"cpu\":%.9f,\"count\":%ld,\"bytes\":%ld,\"produced\":%ld,\"dropped\":%lu,"
         "\"p50\":%lu,\"p99\":%lu}\n",
         name, dt, cpu, live_seen, live_seen * 64, expected, (unsigned long)(sum_per_cpu(dropped_fd) - dropped_before),
         (unsigned long)(kept ? latencies[kept / 2] : 0), (unsigned long)(kept ? latencies[kept * 99 / 100] : 0));
  fflush(stdout);
  *tgid = 0;
  close(go[1]);
  ring_buffer__free(rb);
  bpf_link__destroy(link);
  free(latencies);
}

/* Untimed rounds before a drain case's timed repeats, the rule of bench/run.ts's
 * warmFills: enough fills for the consumer to have read every page of its buffer once,
 * and one more (a first pass over a fresh mapping is not the steady state). */
static int warm_fills(long bytes_per_fill, long buffer_bytes) {
  long n = (buffer_bytes + bytes_per_fill - 1) / bytes_per_fill + 1;
  return n < 32 ? (int)n : 32;
}

static void report(const char *name, double seconds, long count, long bytes) {
  double cpu = cpu_now() - cpu_start;
  printf("{\"case\":\"%s\",\"seconds\":%.9f,\"cpu\":%.9f,\"count\":%ld,\"bytes\":%ld}\n", name, seconds, cpu, count, bytes);
  fflush(stdout);
}

/* A full dump of a u32 -> u64 hash map in batches of 4096 (BPF_MAP_LOOKUP_BATCH), summing
 * the values: `repeats` times, each reported as `name`. */
static void dump_batches(int table, int repeats, const char *name) {
  for (int r = 0; r < repeats; r++) {
    uint32_t keys[4096];
    uint64_t values[4096];
    uint64_t token = 0;
    long total = 0;
    cpu_start = cpu_now();
    double t = now();
    for (int first = 1;; first = 0) {
      __u32 count = 4096;
      int err = bpf_map_lookup_batch(table, first ? NULL : &token, &token, keys, values, &count, NULL);
      total += count;
      for (__u32 i = 0; i < count; i++) checksum += values[i];
      if (err) break;
    }
    report(name, now() - t, total, 0);
  }
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "produce") == 0) {
    produce(atol(argv[2]));
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "fill-fd") == 0) {  /* the Node side's program, passed as fd argv[2] */
    fill_fd(atoi(argv[2]), atoi(argv[3]));
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "dump") == 0) {  /* the map pinned at argv[2], the Node side's */
    int fd = bpf_obj_get(argv[2]);
    if (fd < 0) {
      fprintf(stderr, "cannot open %s\n", argv[2]);
      return 1;
    }
    dump_batches(fd, atoi(argv[3]), "map_dump_same");
    fprintf(stderr, "checksum %llu\n", (unsigned long long)checksum);
    return 0;
  }
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: baseline <bench.bpf.o> <records-per-fill> <repeats> [live-calls] | produce <calls> | dump <pinned map> <repeats> | fill-fd <program fd> <runs>\n");
    return 2;
  }
  int records = atoi(argv[2]);
  int repeats = atoi(argv[3]);
  long live_calls = argc == 5 ? atol(argv[4]) : 0;
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
    int warm = warm_fills((long)n * (sizes[s] + 8), bpf_map__max_entries(ring));
    for (int w = 0; w < warm; w++) {
      fill(obj, name, n);
      ring_buffer__consume(rb);
    }
    for (int r = 0; r < repeats; r++) {
      fill(obj, name, n);
      cpu_start = cpu_now();
      double t = now();
      int got = ring_buffer__consume(rb);
      double dt = now() - t;
      char label[64];
      snprintf(label, sizeof(label), "ring_%d", sizes[s]);
      report(label, dt, got, (long)got * sizes[s]);
    }
    /* One mapping for the repeats, as a reader keeps one, with the same warm rounds. */
    struct own_ring own = own_ring_open(ring_fd, bpf_map__max_entries(ring));
    for (int w = 0; w < warm; w++) {
      fill(obj, name, n);
      own_ring_consume(&own);
    }
    for (int r = 0; r < repeats; r++) {
      fill(obj, name, n);
      cpu_start = cpu_now();
      double t = now();
      long got = own_ring_consume(&own);
      double dt = now() - t;
      char label[64];
      snprintf(label, sizeof(label), "ring_own_%d", sizes[s]);
      report(label, dt, got, got * sizes[s]);
    }
    munmap(own.consumer, sysconf(_SC_PAGESIZE));
    munmap(own.producer, sysconf(_SC_PAGESIZE) + 2 * bpf_map__max_entries(ring));
  }
  ring_buffer__free(rb);

  // Perf buffer, 64-byte samples (80 bytes of ring each); 8192 pages per CPU hold one fill.
  struct perf_buffer *pb = perf_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "perf")), 8192, on_perf_sample, NULL, NULL, NULL);
  int perf_n = records < 400000 ? records : 400000;
  /* Filled by this process, then by another one (the consumer's thread not the producer). */
  for (int elsewhere = 0; elsewhere < 2; elsewhere++) {
    /* 80 bytes of each CPU's ring (8192 pages) per sample. */
    int warm = warm_fills(perf_n * 80L, 8192L * 4096);
    for (int w = 0; w < warm; w++) {
      (elsewhere ? fill_elsewhere : fill)(obj, "perf_64", perf_n);
      perf_buffer__consume(pb);
    }
    for (int r = 0; r < repeats; r++) {
      (elsewhere ? fill_elsewhere : fill)(obj, "perf_64", perf_n);
      perf_seen = 0;
      cpu_start = cpu_now();
      double t = now();
      int err = perf_buffer__consume(pb);
      double dt = now() - t;
      if (err < 0) fprintf(stderr, "perf consume: %d\n", err);
      report(elsewhere ? "perf_64_elsewhere" : "perf_64", dt, perf_seen, perf_seen * 64);
    }
  }
  /* The same drain, woken as an event loop is: perf_buffer__poll (epoll_wait, then every
   * ready ring) until every sample is in, the clock started at the end of the fill. */
  for (int r = 0; r < repeats; r++) {
    fill(obj, "perf_64", perf_n);
    perf_seen = 0;
    cpu_start = cpu_now();
    double t = now();
    while (perf_seen < perf_n) {
      int err = perf_buffer__poll(pb, 1000);
      if (err < 0) {
        fprintf(stderr, "perf poll: %d\n", err);
        break;
      }
      if (err == 0) break; /* a second without a wake-up: report what came */
    }
    report("perf_64_poll", now() - t, perf_seen, perf_seen * 64);
  }
  perf_buffer__free(pb);

  // Hash map: lookups and updates one at a time, then a full dump of 100k entries.
  int table = bpf_map__fd(bpf_object__find_map_by_name(obj, "table"));
  const int ops = 200000;
  for (int r = 0; r < repeats; r++) {
    cpu_start = cpu_now();
    double t = now();
    for (uint32_t k = 0; k < (uint32_t)ops; k++) {
      uint64_t v = k;
      bpf_map_update_elem(table, &k, &v, BPF_ANY);
    }
    report("map_update", now() - t, ops, 0);
    cpu_start = cpu_now();
    t = now();
    for (uint32_t k = 0; k < (uint32_t)ops; k++) {
      uint64_t v;
      bpf_map_lookup_elem(table, &k, &v);
      checksum += v;
    }
    report("map_lookup", now() - t, ops, 0);
  }
  dump_batches(table, repeats, "map_dump_batch");

  // A .bss variable read through the mmapped section, and through the lookup syscall.
  struct bpf_map *bss = NULL;
  bpf_object__for_each_map(bss, obj) if (strstr(bpf_map__name(bss), ".bss")) break;
  size_t bss_size;
  volatile uint64_t *seq = bpf_map__initial_value(bss, &bss_size);
  for (int r = 0; r < repeats; r++) {
    const long reads = 20000000;
    cpu_start = cpu_now();
    double t = now();
    for (long i = 0; i < reads; i++) checksum += *seq;
    report("global_mmap", now() - t, reads, 0);
  }
  for (int r = 0; live_calls > 0 && r < repeats; r++) live(obj, "on_getppid", 1, live_calls, "live");
  for (int r = 0; live_calls > 0 && r < repeats; r++) live(obj, "on_getppid_burst", LIVE_BURST, live_calls, "live_burst");
  fprintf(stderr, "checksum %lu\n", (unsigned long)checksum);
  bpf_object__close(obj);
  return 0;
}
