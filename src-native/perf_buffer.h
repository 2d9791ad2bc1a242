// PerfBuffer reader: libbpf's perf_buffer over a BPF_MAP_TYPE_PERF_EVENT_ARRAY map, one
// ring per CPU. A record's source is its CPU; lost-sample notices are records of kind
// kLost whose size is the count. Each wake-up drains every per-CPU ring (see ConsumeUpTo)
// into one slab, from a small pool that released batches return to.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include "reader.h"

namespace ebpf {

class PerfBufferHandle : public Reader<PerfBufferHandle> {
 public:
  static constexpr bool kHoldsKernelSpace = false;  // libbpf copies records out to a slab
  static Napi::Function Init(Napi::Env env);
  explicit PerfBufferHandle(const Napi::CallbackInfo& info);
  ~PerfBufferHandle() override;

  int EpollFd() { return perf_buffer__epoll_fd(pb_); }
  int ConsumeUpTo(uint32_t n);
  void Retire(Batch& batch) { ReturnSlab(batch); }
  void FreeMemory() {}  // slabs are small: they go with their last Buffer
  void FreeNative();
  bool IsOpen() const { return pb_ != nullptr; }

 private:
  static void OnSample(void* ctx, int cpu, void* data, __u32 size) noexcept;
  static void OnLost(void* ctx, int cpu, __u64 count) noexcept;
  Napi::Value GetBufferCount(const Napi::CallbackInfo& info);

  perf_buffer* pb_ = nullptr;
  int callback_error_ = 0;
  Napi::ObjectReference map_;  // keeps the map's object open while we read it
};

}  // namespace ebpf
