// PerfBuffer reader: libbpf's perf_buffer over a BPF_MAP_TYPE_PERF_EVENT_ARRAY map, one
// ring per CPU. A record's source is its CPU; lost-sample notices are records of kind
// kLost whose size is the count. Each wake-up drains every per-CPU ring (see ConsumeUpTo).
// libbpf sets the rings up (perf events, mmap, the map's slots, epoll); we read their
// mmapped pages ourselves and lend them to JavaScript in place, as for ring buffers: a
// batch is a run of records up to the ring's end (a perf ring is mapped once, so a record
// that wraps is copied into a slab batch of its own), and the ring space comes back when
// the batches before it are released. A raw sample's bytes follow its 12 bytes of headers:
// 4 bytes past an 8-byte boundary. When a ring's CPU is unknown (the buffers do not match
// the online CPUs), libbpf's per-record callbacks copy every record into pooled slabs.
#pragma once

#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "reader.h"

namespace ebpf {

// Read-ahead for a backlog: when a drain stops at its budget with records left, a helper
// thread checks the headers of the ring's next run of samples like the last batch's
// (type, size, sample size) while JavaScript reads the batch just lent; the next drain
// takes what it has checked so far and walks only the rest. Nobody waits: the drain stops
// the thread where it is. One job at a time; the thread starts with the first job, so a
// reader that never falls behind never has one.
class ReadAhead {
 public:
  struct Job {
    const uint8_t* data = nullptr;  // the ring's data pages
    const perf_event_mmap_page* header = nullptr;
    uint64_t mask = 0;
    uint64_t pos = 0;    // where the run starts
    uint64_t limit = 0;  // the position of the ring's end after `pos`
    uint32_t stride = 0;
    uint32_t size = 0;
    uint32_t budget = 0;
    uint32_t ring = 0;
  };

  static constexpr uint32_t kNone = UINT32_MAX;

  ReadAhead() = default;
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;
  ~ReadAhead() { Stop(); }

  // Hands `job` to the thread (replacing one not yet taken); false when it cannot start.
  bool Post(const Job& job) noexcept;
  // The samples checked so far from a job at this ring, position and layout, which ends
  // the job; kNone when there is no such job. Each job is taken once.
  uint32_t Take(uint32_t ring, uint64_t pos, uint32_t stride, uint32_t size) noexcept;
  // Ends the thread (waiting for a job in progress: it reads the rings' pages).
  void Stop() noexcept;

  // Samples from `pos`, each `stride` bytes with a sample of `size` bytes, before `stop`.
  static uint32_t CountRun(const uint8_t* data, uint64_t mask, uint64_t pos, uint64_t stop, uint32_t stride,
                           uint32_t size, uint32_t budget) noexcept;

 private:
  static constexpr uint32_t kChunk = 512;  // samples checked between two reports
  void Run() noexcept;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::thread thread_;
  Job job_;
  uint32_t posted_ = 0;   // jobs posted (a job's serial)
  uint32_t started_ = 0;  // the last job the thread began
  uint32_t taken_ = 0;    // the last job taken
  bool stop_ = false;
  std::atomic<uint64_t> progress_{0};  // a job's serial << 32 | the samples it has checked
  std::atomic<uint32_t> cancel_{0};    // the serial of a job to stop
};

class PerfBufferHandle : public Reader<PerfBufferHandle> {
 public:
  bool HoldsKernelSpace() const { return !rings_.empty(); }
  bool PausesWhileLent() const { return false; }  // readable once per wake-up: no spinning
  static Napi::Function Init(Napi::Env env);
  explicit PerfBufferHandle(const Napi::CallbackInfo& info);
  ~PerfBufferHandle() override;

  int EpollFd() { return perf_buffer__epoll_fd(pb_); }
  int ConsumeUpTo(uint32_t n);
  void Retire(Batch& batch);
  void FreeMemory();
  void FreeNative();
  bool IsOpen() const { return pb_ != nullptr; }

 private:
  static void OnSample(void* ctx, int cpu, void* data, __u32 size) noexcept;
  static void OnLost(void* ctx, int cpu, __u64 count) noexcept;
  Napi::Value GetBufferCount(const Napi::CallbackInfo& info);

  // One per-CPU ring, read in place: its perf_event_mmap_page, then its data pages.
  struct CpuRing {
    perf_event_mmap_page* header;
    const uint8_t* data;
    uint64_t size;  // a power of two
    uint32_t cpu;
    uint64_t read;  // where the next batch starts (data_tail lags while batches are out)
    uint32_t run_stride = 0;  // the last batch's layout when it was uniform (read-ahead)
    uint32_t run_size = 0;
  };
  // libbpf's perf_buffer, freed at close, or with the last Buffer over its pages when the
  // reader is collected without close() while one is still referenced.
  struct Owner {
    perf_buffer* pb = nullptr;
    void Free() {
      if (pb != nullptr) perf_buffer__free(pb);
      pb = nullptr;
    }
    ~Owner() { Free(); }
  };
  // A record's parts: what a sample's table entry says, or a lost-samples count.
  static constexpr uint32_t kSkipped = UINT32_MAX;  // neither: nothing to hand out
  struct Parsed {
    uint32_t kind;    // kRecord, kLost or kSkipped
    uint32_t size;    // a sample's bytes, or the count of lost samples
    uint64_t offset;  // ring position of a sample's bytes
  };
  bool MapRings();
  int ConsumeRing(uint32_t index, uint32_t max);
  int CopyWrapped(uint32_t index, uint64_t pos, const perf_event_header& h);
  static Parsed Parse(const CpuRing& r, uint64_t pos, const perf_event_header& h);
  static void ReadWrapped(const CpuRing& r, uint64_t pos, void* out, size_t size);

  perf_buffer* pb_ = nullptr;
  std::shared_ptr<Owner> owner_;
  std::shared_ptr<Owner> free_at_close_;
  std::vector<CpuRing> rings_;  // empty: libbpf's callbacks read the rings
  int callback_error_ = 0;
  ReadAhead ahead_;
  // Jobs the next drain found barely begun (it came at once: a synchronous drain loop)
  // cost more than they save: after two in a row, the next 16 drains post none.
  uint32_t ahead_misses_ = 0;
  uint32_t ahead_rest_ = 0;
  Napi::ObjectReference map_;  // keeps the map's object open while we read it
};

}  // namespace ebpf
