#include "ring_buffer.h"

#include <cerrno>
#include <cstring>

#include <bpf/libbpf_version.h>

#include "map.h"
#include "util/args.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/type_tags.h"

namespace ebpf {
namespace {

// At most `n` records (libbpf 1.5). A system libbpf older than 1.5 (source builds against
// the distribution's libbpf) has no bounded drain: the batch is then the whole ring.
int ConsumeUpTo(ring_buffer* rb, size_t n) {
#if LIBBPF_MAJOR_VERSION > 1 || (LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION >= 5)
  return ring_buffer__consume_n(rb, n);
#else
  (void)n;
  return ring_buffer__consume(rb);
#endif
}

}  // namespace

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
  // Held strongly only while polling: an idle reader dropped by JavaScript must not keep its
  // callback (and through it the whole object graph) alive. The TypeScript layer keeps the
  // function alive as long as the reader.
  callback_ = Napi::Weak(info[1].As<Napi::Function>());
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

// Moves the batch being filled into a Buffer (the records) and a Uint32Array (offset,
// size, map index per record). Plain Node-API: false, and no exception, when JavaScript
// cannot run. The batch is emptied either way (its records left the kernel ring).
bool RingBufferHandle::TakeBatch(napi_env env, napi_value* slab, napi_value* meta) noexcept {
  void* data = nullptr;
  napi_value array_buffer;
  size_t meta_bytes = meta_.size() * sizeof(uint32_t);
  bool ok = napi_create_buffer_copy(env, slab_.size(), slab_.data(), nullptr, slab) == napi_ok &&
            napi_create_arraybuffer(env, meta_bytes, &data, &array_buffer) == napi_ok;
  if (ok && meta_bytes != 0) std::memcpy(data, meta_.data(), meta_bytes);
  ok = ok && napi_create_typedarray(env, napi_uint32_array, meta_.size(), array_buffer, 0, meta) == napi_ok;
  slab_.clear();
  meta_.clear();
  return ok;
}

// libuv callback (C): nothing may throw through it, and JavaScript may be unable to run
// (a worker_thread being terminated), so only plain Node-API calls, each checked.
void RingBufferHandle::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  Poller* poller = reinterpret_cast<Poller*>(handle);
  if (poller->owner == nullptr) return;
  RingBufferHandle* self = poller->owner;
  napi_env env = self->Env();
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (!self->Drain(env, status) && self->polling_) {
    // JavaScript cannot run any more: stop polling; the cleanup hook frees the rest.
    uv_poll_stop(&poller->handle);
  }
  napi_close_handle_scope(env, scope);
}

bool RingBufferHandle::Drain(napi_env env, int status) noexcept {
  if (status < 0) return DeliverError(env, "ringBuffer.poll", -status);
  if (rb_ == nullptr) return true;
  int n = ConsumeUpTo(rb_, batch_size_);
  // Records consumed before a failure are already gone from the kernel ring: deliver them.
  if (!meta_.empty()) {
    napi_value args[3];
    if (napi_get_null(env, &args[0]) != napi_ok || !TakeBatch(env, &args[1], &args[2])) return false;
    if (!Call(env, 3, args)) return false;
  }
  if (n < 0) return DeliverError(env, "ringBuffer.consume", -n);
  return true;
}

bool RingBufferHandle::DeliverError(napi_env env, const char* operation, int err) noexcept {
  ErrorDetails d;
  d.operation = operation;
  d.err = err;
  napi_value error = BpfErrorValue(env, d);
  return error != nullptr && Call(env, 1, &error);
}

// Calls onBatch. False when JavaScript cannot run; an exception thrown by the callback
// itself is reported as uncaught.
bool RingBufferHandle::Call(napi_env env, size_t argc, napi_value* argv) noexcept {
  if (callback_.IsEmpty()) return true;  // closed by an earlier delivery
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, callback_, &fn) != napi_ok || napi_get_global(env, &recv) != napi_ok) {
    return false;
  }
  if (fn == nullptr) return true;  // collected: nobody is listening
  napi_status status = napi_make_callback(env, *async_context_, recv, fn, argc, argv, &result);
  if (status == napi_ok) return true;
  bool pending = false;
  napi_value exception;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
    napi_fatal_exception(env, exception);
    return true;
  }
  return false;
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
  callback_.Ref();
  return env.Undefined();
}

// stop(): pause polling; records stay in the kernel ring.
Napi::Value RingBufferHandle::Stop(const Napi::CallbackInfo& info) {
  if (polling_) {
    uv_poll_stop(&poller_->handle);
    polling_ = false;
    Unref();
    callback_.Unref();
  }
  return info.Env().Undefined();
}

// consume(max?): drain synchronously, returning [slab, meta] (used for an explicit drain).
Napi::Value RingBufferHandle::Consume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (rb_ == nullptr) ThrowBpfError(env, "ringBuffer.consume", EBADF, "the reader is closed");
  uint32_t max = info[0].IsUndefined() ? batch_size_ : GetBatchSize(env, info[0]);
  int n = ConsumeUpTo(rb_, max);
  if (n < 0 && meta_.empty()) Check(env, n, "ringBuffer.consume");
  // Records consumed before a failure are returned, not lost.
  napi_value slab, meta;
  if (!TakeBatch(env, &slab, &meta)) throw Napi::Error::New(env, "ringBuffer.consume: out of memory");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Value(env, slab));
  out.Set(1u, Napi::Value(env, meta));
  return out;
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
