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

#include <vector>

#include "read_ahead.h"
#include "reader.h"

namespace ebpf {

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
  RingRotation rotation_;  // which ring a drain reads first
  int callback_error_ = 0;
  ReadAhead ahead_;
  Napi::ObjectReference map_;  // keeps the map's object open while we read it
};

}  // namespace ebpf
