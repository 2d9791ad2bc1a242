// RingBuffer reader over one or more BPF_MAP_TYPE_RINGBUF maps. libbpf's ring_buffer
// provides the epoll fd; the records are read by our own consumer over each ring's pages,
// mapped here a second time, so that a batch can be handed to JavaScript in place: a
// batch is the region between two consumer positions, and the ring's consumer position
// moves past it only when JavaScript releases it (reader.h). Each drain reads at most
// batchSize records; a record's source is the index of its map in the reader.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <memory>
#include <vector>

#include "read_ahead.h"
#include "reader.h"

namespace ebpf {

class RingBufferHandle : public Reader<RingBufferHandle> {
 public:
  bool HoldsKernelSpace() const { return true; }
  bool PausesWhileLent() const { return true; }
  static Napi::Function Init(Napi::Env env);
  explicit RingBufferHandle(const Napi::CallbackInfo& info);
  ~RingBufferHandle() override;

  int EpollFd() { return ring_buffer__epoll_fd(rb_); }
  int ConsumeUpTo(uint32_t n);
  void Retire(Batch& batch);
  void FreeNative();
  void FreeMemory();
  bool IsOpen() const { return rb_ != nullptr; }

 private:
  // The producer page and the data area after it, mapped twice back to back by the kernel
  // (read-only): shared by the reader and the Buffers of its batches.
  struct Pages {
    void* address;
    size_t length;
    ~Pages() { Unmap(); }
    void Unmap();
  };

  // One ring: its consumer position (read-write) and its pages.
  struct Ring {
    unsigned long* consumer = nullptr;
    std::shared_ptr<Pages> pages;
    const unsigned long* producer = nullptr;
    const uint8_t* data = nullptr;
    uint64_t mask = 0;
    uint64_t read = 0;  // position of the next record not yet handed out
    uint32_t run_stride = 0;  // the last batch's layout when it was uniform (read-ahead)
    uint32_t run_size = 0;
  };

  static int OnSample(void* ctx, void* data, size_t size) noexcept;
  void MapRing(Napi::Env env, int fd, const std::string& what);
  int ConsumeRing(uint32_t index, uint32_t max);
  Napi::Value Fill(const Napi::CallbackInfo& info);

  ring_buffer* rb_ = nullptr;
  std::vector<Ring> rings_;
  RingRotation rotation_;  // which ring a drain reads first
  std::vector<std::shared_ptr<Pages>> unmap_at_close_;  // the pages of rings freed
  ReadAhead ahead_;
  Napi::Reference<Napi::Array> maps_;  // keeps the maps' objects open while we read them
};

}  // namespace ebpf
