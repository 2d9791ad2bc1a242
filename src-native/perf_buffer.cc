#include "perf_buffer.h"

#include <cerrno>
#include <string>
#include <type_traits>
#include <utility>

#include "map.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/type_tags.h"

namespace ebpf {

// perf_buffer_opts.sample_period (how many samples before a wake-up) came after libbpf 1.1:
// with an older system libbpf every sample wakes the reader, and wakeupEvents is ignored.
template <typename T, typename = void>
struct HasSamplePeriod : std::false_type {};
template <typename T>
struct HasSamplePeriod<T, decltype(void(std::declval<T&>().sample_period))> : std::true_type {};

template <typename Opts>
static void SetSamplePeriod(Opts& opts, uint32_t period) {
  if constexpr (HasSamplePeriod<Opts>::value) {
    opts.sample_period = period;
  } else {
    (void)opts;
    (void)period;
  }
}

Napi::Function PerfBufferHandle::Init(Napi::Env env) {
  auto properties = ReaderProperties();
  properties.push_back(InstanceAccessor("bufferCount", &PerfBufferHandle::GetBufferCount, nullptr));
  return DefineClass(env, "PerfBufferHandle", properties);
}

// new PerfBufferHandle(map: MapHandle, onBatch(err, slab, meta), batchSize, pageCount, wakeupEvents)
PerfBufferHandle::PerfBufferHandle(const Napi::CallbackInfo& info) : Reader(info) {
  Napi::Env env = info.Env();
  if (!IsMapHandle(env, info[0])) ThrowTypeError(env, "the map must be a BpfMap");
  InitReader(env, info[1], info[2], "ebpf:PerfBuffer");
  uint32_t pages = GetUint32(env, info[3], "pageCount");
  if (pages == 0 || (pages & (pages - 1)) != 0) ThrowTypeError(env, "pageCount must be a power of two");
  uint32_t wakeup = GetUint32(env, info[4], "wakeupEvents");
  MapHandle* map = MapHandle::Unwrap(info[0].As<Napi::Object>());
  map->Require(env, "perfBuffer");
  std::string what = "map '" + map->name() + "'";
  // Type(), not bpf_map__type(): a map opened from a pin has no bpf_map.
  if (map->Type() != BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
    ThrowBpfError(env, "perfBuffer", EINVAL, what + " is not a perf event array (BPF_MAP_TYPE_PERF_EVENT_ARRAY)");
  }
  int fd = map->RequireFd(env, "perfBuffer");
  perf_buffer_opts opts{};
  opts.sz = sizeof(opts);
  SetSamplePeriod(opts, wakeup == 0 ? 1 : wakeup);
  LogCapture log;
  pb_ = CheckPtr(env, [&] { return perf_buffer__new(fd, pages, OnSample, OnLost, this, &opts); }, "perfBuffer", what, &log);
  Tag(env, info.This(), Kind::PerfBuffer);
  map_ = Napi::Persistent(info[0].As<Napi::Object>());
}

PerfBufferHandle::~PerfBufferHandle() { Free(); }

void PerfBufferHandle::FreeNative() {
  if (pb_ != nullptr) {
    perf_buffer__free(pb_);
    pb_ = nullptr;
  }
}

void PerfBufferHandle::OnSample(void* ctx, int cpu, void* data, __u32 size) noexcept {
  PerfBufferHandle* self = static_cast<PerfBufferHandle*>(ctx);
  int err = self->AddRecord(data, size, static_cast<uint32_t>(cpu));
  if (err < 0) self->callback_error_ = err;
}

void PerfBufferHandle::OnLost(void* ctx, int cpu, __u64 count) noexcept {
  PerfBufferHandle* self = static_cast<PerfBufferHandle*>(ctx);
  int err = self->AddLost(count, static_cast<uint32_t>(cpu));
  if (err < 0) self->callback_error_ = err;
}

// Every per-CPU ring, whole: a perf event reports readable once per wake-up (reading its
// poll state clears it), so what is left behind could wait for the next sample. Each
// ring holds at most pageCount pages, which bounds the batch.
int PerfBufferHandle::ConsumeUpTo(uint32_t /*n*/) {
  callback_error_ = 0;
  int err = perf_buffer__consume(pb_);
  int finished = FinishSlab();
  if (err < 0) return err;
  if (callback_error_ < 0) return callback_error_;
  return finished < 0 ? finished : static_cast<int>(ready_records());
}

Napi::Value PerfBufferHandle::GetBufferCount(const Napi::CallbackInfo& info) {
  if (pb_ == nullptr) ThrowBpfError(info.Env(), "perfBuffer", EBADF, "the reader is closed");
  return Napi::Number::New(info.Env(), static_cast<double>(perf_buffer__buffer_cnt(pb_)));
}

}  // namespace ebpf
