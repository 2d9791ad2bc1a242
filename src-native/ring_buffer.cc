#include "ring_buffer.h"

#include <bpf/libbpf_version.h>

#include <cerrno>
#include <string>

#include "map.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/type_tags.h"

namespace ebpf {

Napi::Function RingBufferHandle::Init(Napi::Env env) {
  auto properties = ReaderProperties();
  properties.push_back(InstanceMethod("fill", &RingBufferHandle::Fill));
  return DefineClass(env, "RingBufferHandle", properties);
}

// new RingBufferHandle(maps: MapHandle[], onBatch(err, slab, meta), batchSize)
RingBufferHandle::RingBufferHandle(const Napi::CallbackInfo& info) : Reader(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() == 0) {
    ThrowTypeError(env, "a ring buffer reader needs at least one map");
  }
  InitReader(env, info[1], info[2], "ebpf:RingBuffer");
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
}

RingBufferHandle::~RingBufferHandle() { Free(); }

void RingBufferHandle::FreeNative() {
  if (rb_ != nullptr) {
    ring_buffer__free(rb_);
    rb_ = nullptr;
  }
}

int RingBufferHandle::OnSample(void* ctx, void* data, size_t size) noexcept {
  Source* source = static_cast<Source*>(ctx);
  return source->self->AddRecord(data, size, source->index);
}

// At most `n` records (libbpf 1.5). A system libbpf older than 1.5 (source builds against
// the distribution's libbpf) has no bounded drain: the batch is then the whole ring.
int RingBufferHandle::ConsumeUpTo(uint32_t n) {
#if LIBBPF_MAJOR_VERSION > 1 || (LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION >= 5)
  return ring_buffer__consume_n(rb_, n);
#else
  (void)n;
  return ring_buffer__consume(rb_);
#endif
}

// fill(): [bytes waiting, ring size] per map, in reader order; empty with a system libbpf
// older than 1.3, which has no API for it.
Napi::Value RingBufferHandle::Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (rb_ == nullptr) ThrowBpfError(env, "ringBuffer.stats", EBADF, "the reader is closed");
#if LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION < 3
  return Napi::Array::New(env, 0);
#else
  Napi::Array out = Napi::Array::New(env, sources_.size());
  for (uint32_t i = 0; i < sources_.size(); i++) {
    ring* r = ring_buffer__ring(rb_, i);
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::Number::New(env, r != nullptr ? static_cast<double>(ring__avail_data_size(r)) : 0));
    pair.Set(1u, Napi::Number::New(env, r != nullptr ? static_cast<double>(ring__size(r)) : 0));
    out.Set(i, pair);
  }
  return out;
#endif
}

}  // namespace ebpf
