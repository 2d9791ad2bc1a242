#include "ring_buffer.h"

#include <cerrno>
#include <cstring>

#include "map.h"
#include "util/args.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/type_tags.h"

namespace ebpf {

Napi::Function RingBufferHandle::Init(Napi::Env env) {
  return DefineClass(env, "RingBufferHandle", {
      InstanceMethod("start", &RingBufferHandle::Start),
      InstanceMethod("stop", &RingBufferHandle::Stop),
      InstanceMethod("consume", &RingBufferHandle::Consume),
      InstanceMethod("close", &RingBufferHandle::Close),
      InstanceAccessor("closed", &RingBufferHandle::GetClosed, nullptr),
  });
}

// new RingBufferHandle(maps: MapHandle[], onBatch(err, slab, meta), batchSize)
RingBufferHandle::RingBufferHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<RingBufferHandle>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() == 0) {
    ThrowTypeError(env, "a ring buffer reader needs at least one map");
  }
  if (!info[1].IsFunction()) ThrowTypeError(env, "onBatch must be a function");
  batch_size_ = GetBatchSize(env, info[2]);

  Napi::Array maps = info[0].As<Napi::Array>();
  LogCapture log;
  try {
    for (uint32_t i = 0; i < maps.Length(); i++) {
      Napi::Value v = maps.Get(i);
      if (!IsMapHandle(env, v)) ThrowTypeError(env, "maps must be BpfMap objects");
      MapHandle* map = MapHandle::Unwrap(v.As<Napi::Object>());
      bpf_map* m = map->Require(env, "ringBuffer");
      std::string what = "map '" + map->name() + "'";
      if (bpf_map__type(m) != BPF_MAP_TYPE_RINGBUF) {
        ThrowBpfError(env, "ringBuffer", EINVAL, what + " is not a ring buffer (BPF_MAP_TYPE_RINGBUF)");
      }
      int fd = map->RequireFd(env, "ringBuffer");
      sources_.push_back(std::unique_ptr<Source>(new Source{this, i}));
      Source* source = sources_.back().get();
      if (rb_ == nullptr) {
        rb_ = CheckPtr(env, [&] { return ring_buffer__new(fd, OnSample, source, nullptr); }, "ringBuffer", what, &log);
      } else {
        Check(env, ring_buffer__add(rb_, fd, OnSample, source), "ringBuffer", what, &log);
      }
    }
  } catch (...) {
    Free();  // a throwing constructor runs no destructor
    throw;
  }
  Tag(env, info.This(), Kind::RingBuffer);
  maps_ = Napi::Persistent(maps);
  callback_ = Napi::Persistent(info[1].As<Napi::Function>());
  async_context_ = std::make_unique<Napi::AsyncContext>(env, "ebpf:RingBuffer", Value());
}

RingBufferHandle::~RingBufferHandle() { Free(); }

// Called by libbpf (C) for each record: nothing may throw through it.
int RingBufferHandle::OnSample(void* ctx, void* data, size_t size) noexcept {
  Source* source = static_cast<Source*>(ctx);
  RingBufferHandle* self = source->self;
  size_t offset = (self->slab_.size() + 7) & ~static_cast<size_t>(7);
  if (size > UINT32_MAX || offset + size > UINT32_MAX) return -E2BIG;
  try {
    self->slab_.resize(offset + size);
    self->meta_.reserve(self->meta_.size() + 3);
  } catch (...) {
    return -ENOMEM;
  }
  std::memcpy(self->slab_.data() + offset, data, size);
  self->meta_.push_back(static_cast<uint32_t>(offset));
  self->meta_.push_back(static_cast<uint32_t>(size));
  self->meta_.push_back(source->index);
  return 0;
}

uint32_t RingBufferHandle::GetBatchSize(Napi::Env env, const Napi::Value& value) {
  uint32_t n = GetUint32(env, value, "batchSize");
  if (n == 0 || n > kMaxBatch) {
    ThrowTypeError(env, "batchSize must be from 1 to " + std::to_string(kMaxBatch));
  }
  return n;
}

Napi::Value RingBufferHandle::TakeBatch(Napi::Env env) {
  Napi::Buffer<uint8_t> slab = Napi::Buffer<uint8_t>::Copy(env, slab_.data(), slab_.size());
  Napi::Uint32Array meta = Napi::Uint32Array::New(env, meta_.size());
  if (!meta_.empty()) std::memcpy(meta.Data(), meta_.data(), meta_.size() * sizeof(uint32_t));
  slab_.clear();
  meta_.clear();
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, slab);
  out.Set(1u, meta);
  return out;
}

// libuv callback (C): nothing may throw through it.
void RingBufferHandle::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  Poller* poller = reinterpret_cast<Poller*>(handle);
  if (poller->owner == nullptr) return;
  RingBufferHandle* self = poller->owner;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  try {
    self->Drain(env, status);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  } catch (const std::exception& e) {
    napi_fatal_exception(env, Napi::Error::New(env, std::string("ring buffer: ") + e.what()).Value());
  } catch (...) {
    napi_fatal_exception(env, Napi::Error::New(env, "ring buffer: unknown failure").Value());
  }
}

void RingBufferHandle::Drain(Napi::Env env, int status) {
  if (status < 0) {
    Deliver(env, Failure(env, "ringBuffer.poll", -status));
    return;
  }
  if (rb_ == nullptr) return;
  int n = ring_buffer__consume_n(rb_, batch_size_);
  // Records consumed before a failure are already gone from the kernel ring: deliver them.
  if (!meta_.empty()) Deliver(env, env.Null());
  if (n < 0) Deliver(env, Failure(env, "ringBuffer.consume", -n));
}

Napi::Value RingBufferHandle::Failure(Napi::Env env, const char* operation, int err) {
  ErrorDetails d;
  d.operation = operation;
  d.err = err;
  return MakeBpfError(env, d).Value();
}

void RingBufferHandle::Deliver(Napi::Env env, const Napi::Value& error) {
  if (callback_.IsEmpty()) return;  // closed by an earlier delivery
  if (error.IsNull()) {
    Napi::Array batch = TakeBatch(env).As<Napi::Array>();
    callback_.MakeCallback(Value(), {error, batch.Get(0u), batch.Get(1u)}, *async_context_);
  } else {
    callback_.MakeCallback(Value(), {error}, *async_context_);
  }
}

// start(): begin polling the rings on the loop (idempotent).
Napi::Value RingBufferHandle::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (rb_ == nullptr) ThrowBpfError(env, "ringBuffer.start", EBADF, "the reader is closed");
  if (polling_) return env.Undefined();
  if (poller_ == nullptr) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) ThrowBpfError(env, "ringBuffer.start", EINVAL, "no event loop");
    poller_ = new Poller();
    poller_->owner = this;
    poller_->cleanup = nullptr;
    int err = uv_poll_init(loop, &poller_->handle, ring_buffer__epoll_fd(rb_));
    if (err < 0) {
      delete poller_;
      poller_ = nullptr;
      ThrowBpfError(env, "ringBuffer.start", -err, "uv_poll_init");
    }
    // A worker_thread's teardown waits for this hook, so the handle is closed in time.
    napi_add_async_cleanup_hook(env, OnEnvCleanup, poller_, &poller_->cleanup);
  }
  int err = uv_poll_start(&poller_->handle, UV_READABLE, OnPoll);
  if (err < 0) ThrowBpfError(env, "ringBuffer.start", -err, "uv_poll_start");
  polling_ = true;
  Ref();  // alive while polling, even if JavaScript drops it
  return env.Undefined();
}

// stop(): pause polling; records stay in the kernel ring.
Napi::Value RingBufferHandle::Stop(const Napi::CallbackInfo& info) {
  if (polling_) {
    uv_poll_stop(&poller_->handle);
    polling_ = false;
    Unref();
  }
  return info.Env().Undefined();
}

// consume(max?): drain synchronously, returning [slab, meta] (used for an explicit drain).
Napi::Value RingBufferHandle::Consume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (rb_ == nullptr) ThrowBpfError(env, "ringBuffer.consume", EBADF, "the reader is closed");
  uint32_t max = info[0].IsUndefined() ? batch_size_ : GetBatchSize(env, info[0]);
  int n = ring_buffer__consume_n(rb_, max);
  if (n < 0 && meta_.empty()) Check(env, n, "ringBuffer.consume");
  return TakeBatch(env);  // records consumed before a failure are returned, not lost
}

void RingBufferHandle::OnEnvCleanup(napi_async_cleanup_hook_handle /*handle*/, void* arg) {
  Poller* poller = static_cast<Poller*>(arg);
  if (poller->owner != nullptr) {
    RingBufferHandle* self = poller->owner;
    self->ClosePoller();  // hands the poller to uv_close; the hook is removed when it is done
    if (self->rb_ != nullptr) {
      ring_buffer__free(self->rb_);
      self->rb_ = nullptr;
    }
  }
}

void RingBufferHandle::OnPollerClosed(uv_handle_t* handle) {
  Poller* poller = reinterpret_cast<Poller*>(handle);
  if (poller->cleanup != nullptr) napi_remove_async_cleanup_hook(poller->cleanup);
  delete poller;
}

void RingBufferHandle::ClosePoller() {
  if (poller_ == nullptr) return;
  if (polling_) {
    polling_ = false;
    // Unref() only from JavaScript-facing paths; here the environment is going away or the
    // reader is being freed, and the reference is dropped with it.
  }
  poller_->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&poller_->handle), OnPollerClosed);
  poller_ = nullptr;
}

void RingBufferHandle::Free() {
  ClosePoller();
  if (rb_ != nullptr) {
    ring_buffer__free(rb_);
    rb_ = nullptr;
  }
}

Napi::Value RingBufferHandle::Close(const Napi::CallbackInfo& info) {
  bool was_polling = polling_;
  Free();
  if (was_polling) Unref();
  if (!maps_.IsEmpty()) maps_.Reset();
  if (!callback_.IsEmpty()) callback_.Reset();
  return info.Env().Undefined();
}

Napi::Value RingBufferHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), rb_ == nullptr);
}

}  // namespace ebpf
