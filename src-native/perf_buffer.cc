#include "perf_buffer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

// new PerfBufferHandle(map: MapHandle, onBatch(err, slab, meta, token, bytes, lost), batchSize, pageCount,
//                      wakeupEvents, copy): `copy` reads every record into pooled slabs (libbpf's callbacks).
PerfBufferHandle::PerfBufferHandle(const Napi::CallbackInfo& info) : Reader(info) {
  Napi::Env env = info.Env();
  if (!IsMapHandle(env, info[0])) ThrowTypeError(env, "the map must be a BpfMap");
  InitReader(env, info[1], info[2], "ebpf:PerfBuffer");
  uint32_t pages = GetUint32(env, info[3], "pageCount");
  if (pages == 0 || (pages & (pages - 1)) != 0) ThrowTypeError(env, "pageCount must be a power of two");
  uint32_t wakeup = GetUint32(env, info[4], "wakeupEvents");
  bool copy = info[5].ToBoolean().Value();
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
  try {
    owner_ = std::make_shared<Owner>();
  } catch (...) {
    perf_buffer__free(pb_);
    pb_ = nullptr;
    throw Napi::Error::New(env, "perfBuffer: out of memory");
  }
  owner_->pb = pb_;
  if (copy || !MapRings()) rings_.clear();
  Tag(env, info.This(), Kind::PerfBuffer);
  map_ = Napi::Persistent(info[0].As<Napi::Object>());
}

PerfBufferHandle::~PerfBufferHandle() { Free(); }

// The rings go at close() (every Buffer over them is detached by then: FreeMemory), or
// with the last Buffer over them when the reader is collected without close().
void PerfBufferHandle::FreeNative() {
  ahead_.Stop();  // before the rings go: the thread may be reading them
  rings_.clear();
  pb_ = nullptr;
  if (owner_) free_at_close_ = std::move(owner_);
}

void PerfBufferHandle::FreeMemory() {
  if (free_at_close_) free_at_close_->Free();
  free_at_close_.reset();
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

// The CPUs libbpf opened rings for, in its order: the online CPUs below the number of
// possible CPUs (and the map's size). Read from the same file libbpf reads.
static bool OnlineCpus(std::vector<uint32_t>* cpus) {
  FILE* f = fopen("/sys/devices/system/cpu/online", "re");
  if (f == nullptr) return false;
  char text[4096];
  size_t n = fread(text, 1, sizeof(text) - 1, f);
  fclose(f);
  text[n] = 0;
  const char* p = text;
  while (*p != 0 && *p != '\n') {
    char* end;
    unsigned long first = strtoul(p, &end, 10);
    if (end == p) return false;
    unsigned long last = first;
    p = end;
    if (*p == '-') {
      last = strtoul(p + 1, &end, 10);
      if (end == p + 1 || last < first) return false;
      p = end;
    }
    if (last >= 65536) return false;
    for (unsigned long cpu = first; cpu <= last; cpu++) cpus->push_back(static_cast<uint32_t>(cpu));
    if (*p == ',') p++;
  }
  return true;
}

// The rings' pages, for ConsumeRing. false (libbpf's callbacks then read the rings) when
// the buffers libbpf made do not match the online CPUs one for one.
bool PerfBufferHandle::MapRings() {
  std::vector<uint32_t> online;
  int possible = libbpf_num_possible_cpus();
  try {
    if (possible <= 0 || !OnlineCpus(&online)) return false;
  } catch (...) {
    return false;
  }
  size_t count = perf_buffer__buffer_cnt(pb_);
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t i = 0, j = 0; i < online.size() && j < count; i++) {
    if (online[i] >= static_cast<uint32_t>(possible)) break;
    void* base = nullptr;
    size_t size = 0;
    if (perf_buffer__buffer(pb_, static_cast<int>(j), &base, &size) != 0 || size == 0 || (size & (size - 1)) != 0) return false;
    try {
      rings_.push_back({static_cast<perf_event_mmap_page*>(base), static_cast<const uint8_t*>(base) + page, size, online[i],
                        static_cast<perf_event_mmap_page*>(base)->data_tail});
    } catch (...) {
      return false;
    }
    j++;
  }
  return rings_.size() == count;
}

// `size` bytes at ring position `pos`, which may wrap past the ring's end.
void PerfBufferHandle::ReadWrapped(const CpuRing& r, uint64_t pos, void* out, size_t size) {
  uint64_t at = pos & (r.size - 1);
  if (r.size - at >= size) {  // the common case: one piece
    memcpy(out, r.data + at, size);
    return;
  }
  size_t first = static_cast<size_t>(r.size - at);
  memcpy(out, r.data + at, first);
  memcpy(static_cast<uint8_t*>(out) + first, r.data, size - first);
}

// The record with header `h` at ring position `pos`: a sample (its bytes' position and
// size, clipped to the record), a lost-samples count, or neither (skipped).
PerfBufferHandle::Parsed PerfBufferHandle::Parse(const CpuRing& r, uint64_t pos, const perf_event_header& h) {
  if (h.type == PERF_RECORD_SAMPLE && h.size >= sizeof(h) + sizeof(uint32_t)) {
    uint32_t raw;
    ReadWrapped(r, pos + sizeof(h), &raw, sizeof(raw));
    uint32_t room = static_cast<uint32_t>(h.size - sizeof(h) - sizeof(uint32_t));
    return {kRecord, raw > room ? room : raw, pos + sizeof(h) + sizeof(uint32_t)};
  }
  if (h.type == PERF_RECORD_LOST && h.size >= sizeof(h) + 2 * sizeof(uint64_t)) {
    uint64_t lost;
    ReadWrapped(r, pos + sizeof(h) + sizeof(uint64_t), &lost, sizeof(lost));
    return {kLost, lost > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(lost), 0};
  }
  return {kSkipped, 0, 0};
}

// A record that wraps past the ring's end, copied into a slab batch of its own, which
// retires the ring up to the record's end.
int PerfBufferHandle::CopyWrapped(uint32_t index, uint64_t pos, const perf_event_header& h) {
  const CpuRing& r = rings_[index];
  Parsed p = Parse(r, pos, h);
  if (p.kind == kRecord) {
    uint8_t* at = AppendRecord(p.size, r.cpu);
    if (at == nullptr) return -ENOMEM;
    ReadWrapped(r, p.offset, at, p.size);
  } else if (p.kind == kLost) {
    if (AddLost(p.size, r.cpu) < 0) return -ENOMEM;
  } else {  // nothing to hand out: retired in order with the rest
    Batch batch;
    batch.ring = index;
    batch.end = pos + h.size;
    batch.released = true;
    return PushBatch(std::move(batch));
  }
  int err = FinishSlab(index, pos + h.size);
  return err < 0 ? err : (p.kind == kRecord ? 1 : 0);
}

// At most `max` records of ring `index` from where the last batch ended, lent in place: a
// batch runs to the ring's end at most. Returns the samples handed out, or -errno.
int PerfBufferHandle::ConsumeRing(uint32_t index, uint32_t max) {
  CpuRing& r = rings_[index];
  uint64_t head = __atomic_load_n(&r.header->data_head, __ATOMIC_ACQUIRE);
  uint64_t mask = r.size - 1;
  int samples = 0;
  uint32_t records = 0;
  while (r.read < head && records < max) {
    uint64_t start = r.read;
    uint64_t limit = start - (start & mask) + r.size;  // the position of the ring's end
    uint64_t stop = head < limit ? head : limit;
    uint64_t most = (stop - start) / 16 + 1;  // a record takes 16 bytes at least
    if (most > max - records) most = max - records;
    TableWalk walk = NewWalk(most);
    uint64_t bytes = 0;
    uint32_t lost = 0;
    uint64_t pos = start;
    perf_event_header h{};
    bool wrapped = false;
    while (pos < head && records < max) {
      if (walk.InRun(pos)) {
        // Samples like the last one (fixed-size events), up to the ring's end: the header's
        // type and size and the sample's size field are all there is to check.
        uint32_t size = walk.size();
        uint64_t stride = walk.stride();
        uint32_t budget = max - records;
        // The helper thread may have checked some of this run, from the batch's first record.
        uint32_t n = ahead_.Checked(index, start, pos, stop, static_cast<uint32_t>(stride), size, budget);
        pos += n * stride;
        uint32_t more = ReadAhead::Count(ReadAhead::Format::kPerf, r.data, mask, pos, stop, static_cast<uint32_t>(stride),
                                         size, budget - n);
        pos += more * stride;
        n += more;
        walk.AddRun(n);
        records += n;
        bytes += static_cast<uint64_t>(n) * size;
        if (n != 0) continue;
      }
      __builtin_prefetch(r.data + ((pos + kPrefetchBytes) & mask));
      memcpy(&h, r.data + (pos & mask), sizeof(h));  // 8-byte aligned: never split
      if (h.size < sizeof(h) || h.size > head - pos) {  // not a record: give the rest up
        r.read = head;
        return -EBADMSG;
      }
      if (pos + h.size > limit) {
        wrapped = true;
        break;
      }
      Parsed p = Parse(r, pos, h);
      if (p.kind != kSkipped) {
        uint32_t offset = p.kind == kRecord ? static_cast<uint32_t>(p.offset - start) : 0;
        if (!walk.Add(pos, pos + h.size, offset, p.size, r.cpu, p.kind)) return samples > 0 ? samples : -ENOMEM;
        if (p.kind == kRecord) {
          bytes += p.size;
        } else {
          lost++;
        }
      }
      records++;
      pos += h.size;
    }
    if (pos > start) {
      int taken = static_cast<int>(walk.count() - lost);
      Batch batch;
      walk.Finish(batch);
      batch.ring = index;
      batch.end = pos;
      batch.bytes = static_cast<double>(bytes);
      batch.lost = lost;
      if (walk.count() != 0) {
        batch.owner = owner_;
        batch.base = r.data + (start & mask);
        batch.length = pos - start;
      } else {
        batch.released = true;  // nothing to hand out: retired in order with the rest
      }
      r.run_stride = batch.uniform != 0 ? batch.stride : 0;
      r.run_size = batch.size;
      int err = PushBatch(std::move(batch));
      if (err < 0) return samples > 0 ? samples : err;
      samples += taken;
    }
    r.read = pos;
    if (wrapped) {
      int got = CopyWrapped(index, pos, h);
      if (got < 0) return samples > 0 ? samples : got;
      samples += got;
      records++;
      r.read = pos + h.size;
    }
  }
  return samples;
}

void PerfBufferHandle::Retire(Batch& batch) {
  if (batch.ring < rings_.size()) __atomic_store_n(&rings_[batch.ring].header->data_tail, batch.end, __ATOMIC_RELEASE);
  ReturnSlab(batch);
}

// In place: at most `n` records, from each ring in turn (a batch that fits the caches is
// still in them when JavaScript reads it). What is left is read when JavaScript next
// waits for records (the reader looks at every turn of the loop then), since a perf event
// reports readable once per wake-up. With libbpf's callbacks: every ring, whole (each
// holds at most pageCount pages, which bounds the batch).
int PerfBufferHandle::ConsumeUpTo(uint32_t n) {
  if (!rings_.empty()) {
    uint32_t last = 0;
    int total = rotation_.Drain(static_cast<uint32_t>(rings_.size()), n,
                                [this](uint32_t i, uint32_t max) { return ConsumeRing(i, max); }, last);
    if (total > 0 && static_cast<uint32_t>(total) >= n) {  // behind: count ahead in the ring it stopped in
      const CpuRing& r = rings_[last];
      if (r.run_stride != 0) {
        uint64_t mask = r.size - 1;
        uint64_t ring_end = r.read - (r.read & mask) + r.size;  // a perf ring is mapped once: runs stop at its end
        ahead_.Behind({ReadAhead::Format::kPerf, r.data, &r.header->data_head, mask, r.read, ring_end, r.run_stride,
                       r.run_size, n, last});
      }
    }
    return total;
  }
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
