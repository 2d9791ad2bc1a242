// RingBuffer reader: one libbpf ring_buffer over one or more BPF_MAP_TYPE_RINGBUF maps.
// Each wake-up drains at most batchSize records (ring_buffer__consume_n); a record's
// source is the index of its map in the reader.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <memory>
#include <vector>

#include "reader.h"

namespace ebpf {

class RingBufferHandle : public Reader<RingBufferHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RingBufferHandle(const Napi::CallbackInfo& info);
  ~RingBufferHandle() override;

  int EpollFd() { return ring_buffer__epoll_fd(rb_); }
  int ConsumeUpTo(uint32_t n);
  void FreeNative();
  bool IsOpen() const { return rb_ != nullptr; }

 private:
  struct Source {
    RingBufferHandle* self;
    uint32_t index;
  };

  static int OnSample(void* ctx, void* data, size_t size) noexcept;
  Napi::Value Fill(const Napi::CallbackInfo& info);

  ring_buffer* rb_ = nullptr;
  std::vector<std::unique_ptr<Source>> sources_;
  Napi::Reference<Napi::Array> maps_;  // keeps the maps' objects open while we read them
};

}  // namespace ebpf
