#include "ring_buffer.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

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
      map->Require(env, "ringBuffer");
      std::string what = "map '" + map->name() + "'";
      // Type(), not bpf_map__type(): a map opened from a pin has no bpf_map.
      if (map->Type() != BPF_MAP_TYPE_RINGBUF) {
        ThrowBpfError(env, "ringBuffer", EINVAL, what + " is not a ring buffer (BPF_MAP_TYPE_RINGBUF)");
      }
      int fd = map->RequireFd(env, "ringBuffer");
      // libbpf's ring_buffer only watches the rings (its epoll fd): we consume them.
      if (rb_ == nullptr) {
        rb_ = CheckPtr(env, [&] { return ring_buffer__new(fd, OnSample, nullptr, nullptr); }, "ringBuffer", what, &log);
      } else {
        Check(env, ring_buffer__add(rb_, fd, OnSample, nullptr), "ringBuffer", what, &log);
      }
      MapRing(env, fd, what);
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
  ahead_.Stop();  // before the rings go: the thread may be reading them
  if (rb_ != nullptr) {
    ring_buffer__free(rb_);
    rb_ = nullptr;
  }
  long page = sysconf(_SC_PAGESIZE);
  for (Ring& r : rings_) {
    if (r.consumer != nullptr) munmap(r.consumer, page);
  }
  // The data pages go when the last Buffer over them does, or at close().
  for (Ring& r : rings_) unmap_at_close_.push_back(std::move(r.pages));
  rings_.clear();
}

void RingBufferHandle::Pages::Unmap() {
  if (address != nullptr) munmap(address, length);
  address = nullptr;
}

// At close() every Buffer over the pages is detached: unmap them now (a large ring takes
// a while), not in the last Buffer's finalizer, in the middle of whatever runs then.
void RingBufferHandle::FreeMemory() {
  for (auto& pages : unmap_at_close_) pages->Unmap();
  unmap_at_close_.clear();
}

void RingBufferHandle::MapRing(Napi::Env env, int fd, const std::string& what) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  Check(env, bpf_obj_get_info_by_fd(fd, &info, &len), "ringBuffer", what);
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t size = info.max_entries;
  Ring r;
  void* consumer = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (consumer == MAP_FAILED) ThrowBpfError(env, "ringBuffer", errno, what + ": mmap of the consumer page");
  size_t length = page + 2 * size;
  void* pages = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(page));
  if (pages == MAP_FAILED) {
    int err = errno;
    munmap(consumer, page);
    ThrowBpfError(env, "ringBuffer", err, what + ": mmap of the data pages");
  }
  r.consumer = static_cast<unsigned long*>(consumer);
  r.pages = std::shared_ptr<Pages>(new Pages{pages, length});
  r.producer = static_cast<const unsigned long*>(pages);
  r.data = static_cast<const uint8_t*>(pages) + page;
  r.mask = size - 1;
  r.read = __atomic_load_n(r.consumer, __ATOMIC_ACQUIRE);
  rings_.push_back(std::move(r));
}

int RingBufferHandle::OnSample(void* /*ctx*/, void* /*data*/, size_t /*size*/) noexcept { return 0; }

// At most `max` records of ring `index`, from where the last batch ended: one batch over
// the ring's own pages. Records the BPF side discarded are skipped (not in the table).
int RingBufferHandle::ConsumeRing(uint32_t index, uint32_t max) {
  Ring& r = rings_[index];
  uint64_t start = r.read;
  uint64_t pos = start;
  uint64_t producer = __atomic_load_n(r.producer, __ATOMIC_ACQUIRE);
  // Every record takes at least a header: the table's size is bounded before the walk.
  uint64_t most = (producer - start) / BPF_RINGBUF_HDR_SZ;
  if (most > max) most = max;
  TableWalk walk = NewWalk(most);
  uint64_t bytes = 0;
  // A batch's region is at most 4 GiB long (its offsets are 32-bit).
  uint64_t limit = start + UINT32_MAX;
  uint64_t stop = producer < limit ? producer : limit;
  while (pos < producer && walk.count() < max) {
    if (walk.InRun(pos)) {
      // Records like the last one (fixed-size events): a header that says the same length
      // (not busy, not discarded) is all there is to check.
      uint32_t want = walk.size();
      uint32_t stride = walk.stride();
      uint32_t budget = max - walk.count();
      // The helper thread may have checked some of this run, from the batch's first record.
      uint32_t n = ahead_.Checked(index, start, pos, stop, stride, want, budget);
      pos += uint64_t{n} * stride;
      uint32_t more = ReadAhead::Count(ReadAhead::Format::kRing, r.data, r.mask, pos, stop, stride, want, budget - n);
      pos += uint64_t{more} * stride;
      n += more;
      walk.AddRun(n);
      bytes += static_cast<uint64_t>(n) * want;
      if (n != 0) continue;
    }
    __builtin_prefetch(r.data + ((pos + kPrefetchBytes) & r.mask));
    const uint32_t* header = reinterpret_cast<const uint32_t*>(r.data + (pos & r.mask));
    uint32_t len = __atomic_load_n(header, __ATOMIC_ACQUIRE);
    if (len & BPF_RINGBUF_BUSY_BIT) break;  // reserved, not yet submitted
    uint32_t size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    uint64_t next = pos + ((static_cast<uint64_t>(size) + BPF_RINGBUF_HDR_SZ + 7) & ~7ull);
    if (next - start > UINT32_MAX) break;
    if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
      if (!walk.Add(pos, next, static_cast<uint32_t>(pos - start + BPF_RINGBUF_HDR_SZ), size, index, kRecord)) return -ENOMEM;
      bytes += size;
    }
    pos = next;
  }
  if (pos == start) return 0;
  uint32_t count = walk.count();
  Batch batch;
  walk.Finish(batch);
  r.read = pos;
  r.run_stride = batch.uniform != 0 ? batch.stride : 0;
  r.run_size = batch.size;
  batch.bytes = static_cast<double>(bytes);
  batch.ring = index;
  batch.end = pos;
  if (count != 0) {
    batch.owner = r.pages;
    batch.base = r.data + (start & r.mask);  // the second mapping follows: never wraps
    batch.length = pos - start;
  } else {
    batch.released = true;  // only discarded records: retired in order, never handed out
  }
  int err = PushBatch(std::move(batch));
  return err < 0 ? err : static_cast<int>(count);
}

int RingBufferHandle::ConsumeUpTo(uint32_t n) {
  uint32_t last = 0;
  int total = rotation_.Drain(static_cast<uint32_t>(rings_.size()), n,
                              [this](uint32_t i, uint32_t max) { return ConsumeRing(i, max); }, last);
  if (total > 0 && static_cast<uint32_t>(total) >= n) {  // behind: count ahead in the ring it stopped in
    const Ring& r = rings_[last];
    if (r.run_stride != 0) {
      // The next batch's region starts at r.read and is at most 4 GiB long.
      ahead_.Behind({ReadAhead::Format::kRing, r.data, r.producer, r.mask, r.read, r.read + UINT32_MAX, r.run_stride,
                     r.run_size, n, last});
    }
  }
  return total;
}

void RingBufferHandle::Retire(Batch& batch) {
  if (batch.ring < rings_.size()) __atomic_store_n(rings_[batch.ring].consumer, batch.end, __ATOMIC_RELEASE);
}

// fill(): [bytes waiting, ring size] per map, in reader order; empty with a system libbpf
// older than 1.3, which has no API for it.
Napi::Value RingBufferHandle::Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (rb_ == nullptr) ThrowBpfError(env, "ringBuffer.stats", EBADF, "the reader is closed");
#if LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION < 3
  return Napi::Array::New(env, 0);
#else
  Napi::Array out = Napi::Array::New(env, rings_.size());
  for (uint32_t i = 0; i < rings_.size(); i++) {
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
