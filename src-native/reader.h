// What the ring buffer and perf buffer readers share: polling their epoll fd on the loop,
// filling one batch (a slab of records plus (offset, size, source, kind) quads) per
// wake-up, and handing it to JavaScript in one call. The derived class provides
//   int EpollFd();  int ConsumeUpTo(uint32_t n);  void FreeNative();  bool IsOpen();
// and calls AddRecord/AddLost from its libbpf callbacks.
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "util/args.h"
#include "util/errors.h"
#include "util/poller.h"

namespace ebpf {

enum RecordKind : uint32_t { kRecord = 0, kLost = 1 };

template <typename Derived>
class Reader : public Napi::ObjectWrap<Derived>, public Poller::Listener {
 public:
  static constexpr uint32_t kMaxBatch = 1u << 20;
  using Base = Napi::ObjectWrap<Derived>;

  static std::vector<Napi::ClassPropertyDescriptor<Derived>> ReaderProperties() {
    return {
        Base::InstanceMethod("start", &Reader::Start),
        Base::InstanceMethod("stop", &Reader::Stop),
        Base::InstanceMethod("consume", &Reader::Consume),
        Base::InstanceMethod("close", &Reader::Close),
        Base::InstanceAccessor("closed", &Reader::GetClosed, nullptr),
    };
  }

 protected:
  explicit Reader(const Napi::CallbackInfo& info) : Base(info) {}

  // The callback is held strongly only while polling: an idle reader dropped by JavaScript
  // must not keep it (and through it the whole object graph) alive. The TypeScript layer
  // keeps the function alive as long as the reader.
  void InitReader(Napi::Env env, const Napi::Value& callback, const Napi::Value& batch_size, const char* name) {
    if (!callback.IsFunction()) ThrowTypeError(env, "onBatch must be a function");
    batch_size_ = GetBatchSize(env, batch_size);
    callback_ = Napi::Weak(callback.As<Napi::Function>());
    // No resource object of ours: Node 26 holds the async resource strongly, and the reader
    // would then keep itself (and its object's maps) alive forever once dropped.
    async_context_ = std::make_unique<Napi::AsyncContext>(env, name);
  }

  static uint32_t GetBatchSize(Napi::Env env, const Napi::Value& value) {
    uint32_t n = GetUint32(env, value, "batchSize");
    if (n == 0 || n > kMaxBatch) ThrowTypeError(env, "batchSize must be from 1 to " + std::to_string(kMaxBatch));
    return n;
  }

  // From libbpf's (C) callbacks: nothing may throw. 0, or -ENOMEM/-E2BIG.
  int AddRecord(const void* data, size_t size, uint32_t source) noexcept {
    size_t offset = (slab_->size() + 7) & ~static_cast<size_t>(7);
    if (size > UINT32_MAX || offset + size > UINT32_MAX) return -E2BIG;
    try {
      // Padding to 8 bytes, then the record: no zero-fill of the record's own bytes. (The
      // vectors grow geometrically; a bad_alloc leaves at most unreferenced slab bytes.)
      slab_->insert(slab_->end(), offset - slab_->size(), 0);
      const uint8_t* bytes = static_cast<const uint8_t*>(data);
      slab_->insert(slab_->end(), bytes, bytes + size);
      meta_.insert(meta_.end(), {static_cast<uint32_t>(offset), static_cast<uint32_t>(size), source, kRecord});
    } catch (...) {
      return -ENOMEM;
    }
    return 0;
  }

  int AddLost(uint64_t count, uint32_t source) noexcept {
    try {
      uint32_t n = count > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(count);
      meta_.insert(meta_.end(), {0u, n, source, kLost});  // geometric growth
    } catch (...) {
      return -ENOMEM;
    }
    return 0;
  }

  size_t batch_records() const { return meta_.size() / 4; }
  uint32_t batch_size() const { return batch_size_; }

  // The derived destructor calls this (the base's would run after Derived is gone).
  void Free() {
    poller_.Close();
    self()->FreeNative();
  }

 private:
  Derived* self() { return static_cast<Derived*>(this); }

  static void FreeSlab(napi_env env, void* /*data*/, void* hint) {
    std::vector<uint8_t>* slab = static_cast<std::vector<uint8_t>*>(hint);
    int64_t change = 0;
    napi_adjust_external_memory(env, -static_cast<int64_t>(slab->capacity()), &change);
    delete slab;
  }

  // Hands the batch to JavaScript: the slab's memory becomes the Buffer's (no second copy),
  // the small table is copied into a Uint32Array. Plain Node-API calls: false, and no
  // exception, when JavaScript cannot run. The batch is emptied either way.
  bool TakeBatch(napi_env env, napi_value* slab, napi_value* meta) noexcept {
    void* data = nullptr;
    napi_value array_buffer;
    size_t meta_bytes = meta_.size() * sizeof(uint32_t);
    std::vector<uint8_t>* filled = slab_.release();
    size_t used = filled->size();
    bool ok;
    try {
      slab_.reset(new std::vector<uint8_t>());
      slab_->reserve(used);  // the next batch is likely the same size
    } catch (...) {
      slab_.reset(filled);
      slab_->clear();
      meta_.clear();
      return false;
    }
    if (used == 0) {
      delete filled;
      ok = napi_create_buffer(env, 0, &data, slab) == napi_ok;
    } else if (napi_create_external_buffer(env, used, filled->data(), FreeSlab, filled, slab) == napi_ok) {
      int64_t change = 0;
      napi_adjust_external_memory(env, static_cast<int64_t>(filled->capacity()), &change);
      ok = true;
    } else {
      delete filled;
      ok = false;
    }
    ok = ok && napi_create_arraybuffer(env, meta_bytes, &data, &array_buffer) == napi_ok;
    if (ok && meta_bytes != 0) std::memcpy(data, meta_.data(), meta_bytes);
    ok = ok && napi_create_typedarray(env, napi_uint32_array, meta_.size(), array_buffer, 0, meta) == napi_ok;
    meta_.clear();
    return ok;
  }

  bool DeliverError(napi_env env, const char* operation, int err) noexcept {
    ErrorDetails d;
    d.operation = operation;
    d.err = err;
    napi_value error = BpfErrorValue(env, d);
    return error != nullptr && (callback_.IsEmpty() || CallJs(env, *async_context_, callback_, 1, &error));
  }

  bool OnReadable(napi_env env, int status) noexcept override {
    if (status < 0) return DeliverError(env, "reader.poll", -status);
    if (!self()->IsOpen()) return true;
    int n = self()->ConsumeUpTo(batch_size_);
    // Records consumed before a failure are already gone from the kernel: deliver them.
    if (!meta_.empty()) {
      napi_value args[3];
      if (napi_get_null(env, &args[0]) != napi_ok || !TakeBatch(env, &args[1], &args[2])) return false;
      if (!callback_.IsEmpty() && !CallJs(env, *async_context_, callback_, 3, args)) return false;
    }
    if (n < 0) return DeliverError(env, "reader.consume", -n);
    return true;
  }

  void OnEnvTeardown() noexcept override { self()->FreeNative(); }

  // start(): begin polling on the loop (idempotent).
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!self()->IsOpen()) ThrowBpfError(env, "reader.start", EBADF, "the reader is closed");
    if (poller_.active()) return env.Undefined();
    int err = poller_.Start(env, self()->EpollFd(), this);
    if (err < 0) ThrowBpfError(env, "reader.start", -err, "uv_poll_start");
    this->Ref();  // alive while polling, even if JavaScript drops it
    callback_.Ref();
    return env.Undefined();
  }

  // stop(): pause; records stay in the kernel buffers (backpressure).
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (poller_.active()) {
      poller_.Stop();
      this->Unref();
      callback_.Unref();
    }
    return info.Env().Undefined();
  }

  // consume(max?): drain synchronously, returning [slab, meta].
  Napi::Value Consume(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!self()->IsOpen()) ThrowBpfError(env, "reader.consume", EBADF, "the reader is closed");
    uint32_t max = info[0].IsUndefined() ? batch_size_ : GetBatchSize(env, info[0]);
    int n = self()->ConsumeUpTo(max);
    if (n < 0 && meta_.empty()) Check(env, n, "reader.consume");
    napi_value slab, meta;  // records consumed before a failure are returned, not lost
    if (!TakeBatch(env, &slab, &meta)) throw Napi::Error::New(env, "reader.consume: out of memory");
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, Napi::Value(env, slab));
    out.Set(1u, Napi::Value(env, meta));
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool was_polling = poller_.active();
    Free();
    if (was_polling) this->Unref();
    if (!callback_.IsEmpty()) callback_.Reset();
    return info.Env().Undefined();
  }

  Napi::Value GetClosed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !self()->IsOpen());
  }

  Poller poller_;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  uint32_t batch_size_ = 256;
  std::unique_ptr<std::vector<uint8_t>> slab_{new std::vector<uint8_t>()};
  std::vector<uint32_t> meta_;  // offset, size, source, kind per record
};

}  // namespace ebpf
