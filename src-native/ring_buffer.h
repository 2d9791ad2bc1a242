// RingBuffer reader: one libbpf ring_buffer over one or more BPF_MAP_TYPE_RINGBUF maps.
//
// Its epoll fd sits on the environment's libuv loop (uv_poll_t). Each wake-up drains at
// most `batchSize` records with ring_buffer__consume_n into one slab, which crosses into
// JavaScript once, with a Uint32Array of (offset, size, map index) triples. No thread.
// While polling, the handle keeps itself alive and keeps the loop alive; stop() pauses
// (the kernel ring then fills: backpressure), close() frees everything.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>
#include <node_api.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ebpf {

class RingBufferHandle : public Napi::ObjectWrap<RingBufferHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RingBufferHandle(const Napi::CallbackInfo& info);
  ~RingBufferHandle() override;

 private:
  struct Source {
    RingBufferHandle* self;
    uint32_t index;
  };
  // The libuv side, heap-allocated so it can outlive this wrapper until uv_close completes.
  struct Poller {
    uv_poll_t handle;
    RingBufferHandle* owner;
    napi_async_cleanup_hook_handle cleanup;
  };

  static constexpr uint32_t kMaxBatch = 1u << 20;

  static int OnSample(void* ctx, void* data, size_t size) noexcept;
  static uint32_t GetBatchSize(Napi::Env env, const Napi::Value& value);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg);
  static void OnPollerClosed(uv_handle_t* handle);

  bool Drain(napi_env env, int status) noexcept;
  bool DeliverError(napi_env env, const char* operation, int err) noexcept;
  bool Call(napi_env env, size_t argc, napi_value* argv) noexcept;
  bool TakeBatch(napi_env env, napi_value* slab, napi_value* meta) noexcept;
  void ClosePoller();
  void Free();

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Consume(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);


  ring_buffer* rb_ = nullptr;
  std::vector<std::unique_ptr<Source>> sources_;
  Napi::Reference<Napi::Array> maps_;  // keeps the maps' objects open while we read them
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Poller* poller_ = nullptr;
  bool polling_ = false;
  uint32_t batch_size_ = 256;

  // The batch being filled by OnSample.
  std::vector<uint8_t> slab_;
  std::vector<uint32_t> meta_;  // offset, size, source index per record
};

}  // namespace ebpf
