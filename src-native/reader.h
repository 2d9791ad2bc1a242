// What the ring buffer and perf buffer readers share: polling their epoll fd on the loop,
// collecting one batch per drain (a region of record bytes plus (offset, size, source,
// kind) quads), and handing batches to JavaScript, one call per batch. A batch whose
// records all have one size and follow each other at one stride (fixed-size events, the
// common case) has no table: JavaScript gets a descriptor of the layout instead (see
// TableWalk), so neither side reads or writes anything per record but the records.
//
// A batch's bytes are not copied for JavaScript: its Buffer is an external one over memory
// the reader owns, either the kernel ring's own pages (ring buffers: the data area is
// mapped twice back to back, so a region never wraps; perf rings: a batch stops at the
// ring's end) or a pooled slab (a perf record that wraps, or every record with `copy`).
// Every batch handed out is outstanding until
// JavaScript calls release(token), in any order; a release detaches the batch's
// ArrayBuffer and retires it: a slab goes back to the pool at once, a ring region when
// every earlier batch of its ring is released too (the ring's consumer position moves). Detaching
// means JavaScript can never read memory that was reused.
// close() detaches every outstanding batch. The memory itself is reference-counted by
// the Buffers' finalizers too: a Buffer kept past a reader that was garbage-collected
// still points at live (if stale) memory.
//
// The derived class provides
//   int EpollFd();  int ConsumeUpTo(uint32_t n);  void Retire(Batch&);  void FreeNative();
//   void FreeMemory();  bool IsOpen();
//   bool HoldsKernelSpace();   batches are kernel memory: retired in delivery order per ring
//   bool PausesWhileLent();    no polling while a batch is out (a level-triggered fd would spin)
// FreeMemory runs at close(), once every Buffer over the memory is detached: it may free
// that memory at once rather than when the last Buffer is collected.
// and fills batches with PushBatch (ring regions) or AddRecord/AddLost/FinishSlab (slabs).
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "util/args.h"
#include "util/errors.h"
#include "util/poller.h"

namespace ebpf {

enum RecordKind : uint32_t { kRecord = 0, kLost = 1, kUniform = 2 };

// Which ring a budgeted drain reads first: the one after the ring the last full drain
// stopped in, so that a flooded ring (one CPU's, or one map of several) gives up a batch
// at a time and the others get their turn between its batches.
class RingRotation {
 public:
  // consume(ring, budget) -> records taken or -errno, for each ring in turn until n records
  // are taken: the total (records taken before a failure count; a failure with none taken
  // is returned). `stopped` is the last ring read, the one a full drain stopped in.
  template <typename Consume>
  int Drain(uint32_t count, uint32_t n, Consume&& consume, uint32_t& stopped) {
    int total = 0;
    for (uint32_t k = 0; k < count && static_cast<uint32_t>(total) < n; k++) {
      stopped = (first_ + k) % count;
      int got = consume(stopped, n - static_cast<uint32_t>(total));
      if (got < 0) return total > 0 ? total : got;
      total += got;
    }
    if (total > 0 && static_cast<uint32_t>(total) >= n) first_ = (stopped + 1) % count;
    return total;
  }

 private:
  uint32_t first_ = 0;
};

// How far ahead of a ring walk to fetch: each record header gives the next one's place, a
// chain of dependent loads the hardware does not run ahead of on its own.
constexpr uint64_t kPrefetchBytes = 1024;

// Memory records are copied into (perf buffers), reused through a pool: uninitialised, so
// a reused slab costs neither allocation nor zero-filling.
struct Slab {
  std::unique_ptr<uint8_t[]> bytes;
  size_t capacity = 0;
  size_t used = 0;
};

// One drain's records: where their bytes are, who owns that memory, and the table.
struct Batch {
  std::shared_ptr<void> owner;  // the mapping or slab the bytes live in
  const uint8_t* base = nullptr;
  size_t length = 0;
  std::vector<uint32_t> meta;  // offset, size, source, kind per record (none when uniform)
  // A uniform batch (meta empty): `uniform` records of `size` bytes, the first at offset
  // `first`, each `stride` bytes after the last, all from `source`.
  uint32_t uniform = 0;
  uint32_t first = 0;
  uint32_t size = 0;
  uint32_t stride = 0;
  uint32_t source = 0;
  bool pooled = false;         // the bytes are a slab of the pool
  double bytes = 0;            // the records' sizes, summed (for the stats)
  uint32_t lost = 0;           // entries of kind kLost in meta
  static constexpr uint32_t kNoRing = UINT32_MAX;
  uint32_t ring = kNoRing;     // kernel rings: the ring, and its position after the batch
  uint64_t end = 0;
  uint32_t token = 0;          // 0 until handed to JavaScript
  napi_ref buffer = nullptr;   // weak, to the batch's ArrayBuffer
  std::shared_ptr<std::vector<uint32_t>> table;  // the table lent to JavaScript
  napi_ref table_buffer = nullptr;               // weak, to the table's ArrayBuffer
  bool released = false;
  size_t records() const { return uniform != 0 ? uniform : meta.size() / 4; }
};

// One batch's table, built during a ring walk. While the records have one size and each
// starts one stride after the last, nothing is written per record: the batch is uniform.
// The first record that breaks the pattern (another size, a gap, a lost-samples notice)
// writes the table out for the records before it, and every later record goes in it.
class TableWalk {
 public:
  // `spare`: the reader's reused table; `most`: the records the batch may hold.
  TableWalk(std::vector<uint32_t>* spare, size_t most) : spare_(spare), most_(most) {}
  ~TableWalk() {
    if (table_.capacity() > spare_->capacity()) spare_->swap(table_);
  }

  // A record at ring position `pos` whose successor is at `next`; `offset` locates its
  // bytes in the batch. false when out of memory (nothing is then consumed).
  bool Add(uint64_t pos, uint64_t next, uint32_t offset, uint32_t size, uint32_t source, uint32_t kind) noexcept {
    if (uniform_) {
      if (count_ == 0 && kind == kRecord && next - pos <= UINT32_MAX) {
        first_ = offset;
        size_ = size;
        stride_ = static_cast<uint32_t>(next - pos);
        source_ = source;
        expect_ = next;
        count_ = 1;
        return true;
      }
      if (kind == kRecord && size == size_ && pos == expect_ && next - pos == stride_ && source == source_) {
        expect_ = next;
        count_++;
        return true;
      }
      if (!StartTable()) return false;
    }
    if ((count_ + 1) * size_t{4} > table_.size()) {  // past `most`: never expected, but safe
      try {
        table_.resize((count_ + 1) * size_t{8});
      } catch (...) {
        return false;
      }
    }
    uint32_t* out = table_.data() + count_ * size_t{4};
    out[0] = offset;
    out[1] = size;
    out[2] = source;
    out[3] = kind;
    count_++;
    return true;
  }

  uint32_t count() const { return count_; }

  // A run: while the batch is uniform, records like the last one, starting where it ends
  // (expect()), can be counted in bulk with AddRun, after checking only their headers.
  bool InRun(uint64_t pos) const { return uniform_ && count_ != 0 && pos == expect_; }
  uint32_t size() const { return size_; }
  uint32_t stride() const { return stride_; }
  void AddRun(uint32_t n) {
    count_ += n;
    expect_ += static_cast<uint64_t>(n) * stride_;
  }

  // The table, or the uniform layout, moves into the batch.
  void Finish(Batch& batch) noexcept {
    if (uniform_) {
      batch.uniform = count_;
      batch.first = first_;
      batch.size = size_;
      batch.stride = stride_;
      batch.source = source_;
      return;
    }
    table_.resize(count_ * 4);  // a shrink: never allocates
    batch.meta.swap(table_);
  }

 private:
  // The records so far, written out; room for every later one.
  bool StartTable() noexcept {
    try {
      table_.swap(*spare_);
      table_.resize(most_ * 4);
    } catch (...) {
      return false;
    }
    for (uint32_t i = 0; i < count_; i++) {
      uint32_t* out = table_.data() + i * size_t{4};
      out[0] = first_ + i * stride_;
      out[1] = size_;
      out[2] = source_;
      out[3] = kRecord;
    }
    uniform_ = false;
    return true;
  }

  std::vector<uint32_t>* spare_;
  std::vector<uint32_t> table_;
  size_t most_;
  bool uniform_ = true;
  uint32_t count_ = 0;
  uint32_t first_ = 0;
  uint32_t size_ = 0;
  uint32_t stride_ = 0;
  uint32_t source_ = 0;
  uint64_t expect_ = 0;  // where the next record must start to keep the batch uniform
};

template <typename Derived>
class Reader : public Napi::ObjectWrap<Derived>, public Poller::Listener {
 public:
  static constexpr uint32_t kMaxBatch = 1u << 20;
  static constexpr size_t kSlabPool = 4;  // idle slabs kept for reuse
  using Base = Napi::ObjectWrap<Derived>;

  static std::vector<Napi::ClassPropertyDescriptor<Derived>> ReaderProperties() {
    return {
        Base::InstanceMethod("start", &Reader::Start),
        Base::InstanceMethod("stop", &Reader::Stop),
        Base::InstanceMethod("consume", &Reader::Consume),
        Base::InstanceMethod("release", &Reader::Release),
        Base::InstanceMethod("close", &Reader::Close),
        Base::InstanceAccessor("closed", &Reader::GetClosed, nullptr),
        Base::InstanceAccessor("more", &Reader::GetMore, nullptr),
    };
  }

 protected:
  explicit Reader(const Napi::CallbackInfo& info) : Base(info) {}
  ~Reader() override {
    for (Batch& b : outstanding_) {
      if (b.buffer != nullptr) napi_delete_reference(this->Env(), b.buffer);
      if (b.table_buffer != nullptr) napi_delete_reference(this->Env(), b.table_buffer);
    }
  }

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

  // A region of kernel memory, ready for JavaScript. Nothing may throw (libbpf callers).
  int PushBatch(Batch&& batch) noexcept {
    try {
      ready_.push_back(std::move(batch));
    } catch (...) {
      return -ENOMEM;
    }
    return 0;
  }

  // Room for `bytes` more record bytes (padding included) in the current slab. false when
  // out of memory.
  bool GrowSlab(size_t bytes) noexcept {
    try {
      if (!slab_) slab_ = TakeSlab();
      if (slab_meta_.capacity() == 0) slab_meta_ = TakeTable();  // reused: no fresh pages to fault in
    } catch (...) {
      return false;
    }
    size_t need = slab_->used + bytes;
    if (need <= slab_->capacity) return true;
    size_t capacity = slab_->capacity * 2 > need ? slab_->capacity * 2 : need;
    std::unique_ptr<uint8_t[]> grown(new (std::nothrow) uint8_t[capacity]);
    if (!grown) return false;
    if (slab_->used != 0) memcpy(grown.get(), slab_->bytes.get(), slab_->used);
    slab_->bytes = std::move(grown);
    slab_->capacity = capacity;
    return true;
  }

  // Where a record of `size` bytes goes in the current slab (8-byte aligned), with its
  // table entry made; null when out of memory (or past 4 GiB).
  uint8_t* AppendRecord(size_t size, uint32_t source) noexcept {
    size_t offset = slab_ ? (slab_->used + 7) & ~static_cast<size_t>(7) : 0;
    if (size > UINT32_MAX || offset + size > UINT32_MAX) return nullptr;
    if (!slab_ || offset + size > slab_->capacity) {
      if (!GrowSlab(size + 7)) return nullptr;
      offset = (slab_->used + 7) & ~static_cast<size_t>(7);
    }
    try {
      slab_meta_.insert(slab_meta_.end(), {static_cast<uint32_t>(offset), static_cast<uint32_t>(size), source, kRecord});
    } catch (...) {
      return nullptr;
    }
    uint8_t* at = slab_->bytes.get();
    memset(at + slab_->used, 0, offset - slab_->used);  // padding: no stale bytes between records
    slab_->used = offset + size;
    slab_bytes_ += static_cast<double>(size);
    return at + offset;
  }

  // Copies a record into the current slab (perf buffers). 0, or -ENOMEM.
  int AddRecord(const void* data, size_t size, uint32_t source) noexcept {
    uint8_t* at = AppendRecord(size, source);
    if (at == nullptr) return -ENOMEM;
    if (size != 0) memcpy(at, data, size);
    return 0;
  }

  int AddLost(uint64_t count, uint32_t source) noexcept {
    try {
      uint32_t n = count > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(count);
      slab_meta_.insert(slab_meta_.end(), {0u, n, source, kLost});
    } catch (...) {
      return -ENOMEM;
    }
    slab_lost_++;
    return 0;
  }

  // The records added since the last call become one batch over the slab; `ring` and
  // `end`: the kernel ring position it retires (records copied out of a ring in place).
  int FinishSlab(uint32_t ring = Batch::kNoRing, uint64_t end = 0) noexcept {
    if (slab_meta_.empty()) return 0;
    Batch batch;
    batch.pooled = true;
    batch.ring = ring;
    batch.end = end;
    if (slab_) {
      batch.base = slab_->bytes.get();
      batch.length = slab_->used;
      batch.owner = std::move(slab_);
    }
    batch.meta.swap(slab_meta_);
    batch.bytes = slab_bytes_;
    batch.lost = slab_lost_;
    slab_bytes_ = 0;
    slab_lost_ = 0;
    return PushBatch(std::move(batch));
  }

  // Record tables are reused: a fresh one per batch would fault its pages in every time.
  std::vector<uint32_t> TakeTable() {
    std::vector<uint32_t> table;
    table.swap(table_);
    table.clear();
    return table;
  }
  void ReturnTable(std::vector<uint32_t>&& table) noexcept {
    if (table.capacity() > table_.capacity()) table_.swap(table);
  }

  // A retired slab goes back to the pool (perf buffers).
  void ReturnSlab(Batch& batch) noexcept {
    if (!batch.pooled || !batch.owner || pool_.size() >= kSlabPool) return;
    auto slab = std::static_pointer_cast<Slab>(batch.owner);
    slab->used = 0;
    try {
      pool_.push_back(std::move(slab));
    } catch (...) {
    }
  }

  size_t ready_records() const {
    size_t n = slab_meta_.size() / 4;
    for (const Batch& b : ready_) n += b.records();
    return n;
  }

  // A walk over the records of one batch of at most `most` records, with the spare table.
  TableWalk NewWalk(size_t most) { return TableWalk(&table_, most); }

  // The derived destructor calls this (the base's would run after Derived is gone).
  void Free() {
    poller_.Close();
    self()->FreeNative();
  }

 private:
  Derived* self() { return static_cast<Derived*>(this); }

  std::shared_ptr<Slab> TakeSlab() {
    if (pool_.empty()) return std::make_shared<Slab>();
    auto slab = std::move(pool_.back());
    pool_.pop_back();
    return slab;
  }

  static void FreeOwner(napi_env /*env*/, void* /*data*/, void* hint) {
    delete static_cast<std::shared_ptr<void>*>(hint);
  }

  // Hands the oldest ready batch to JavaScript: an external Buffer over its memory, a
  // Uint32Array over its table, and its token. Plain Node-API calls: false, and no
  // exception, when JavaScript cannot run. The batch is outstanding either way.
  bool TakeBatch(napi_env env, napi_value* slab, napi_value* meta, napi_value* token, napi_value* bytes, napi_value* lost) noexcept {
    Batch& batch = ready_.front();
    try {
      outstanding_.push_back(std::move(batch));
    } catch (...) {
      ready_.pop_front();
      return false;
    }
    ready_.pop_front();
    Batch& b = outstanding_.back();
    if (++next_token_ == 0) next_token_ = 1;
    b.token = next_token_;
    void* data = nullptr;
    napi_value array_buffer;
    bool ok;
    if (b.length == 0) {
      ok = napi_create_buffer(env, 0, &data, slab) == napi_ok;
    } else {
      auto* hint = new (std::nothrow) std::shared_ptr<void>(b.owner);
      ok = hint != nullptr && napi_create_external_buffer(env, b.length, const_cast<uint8_t*>(b.base), FreeOwner, hint, slab) == napi_ok;
      if (!ok) delete hint;
      napi_typedarray_type type;
      size_t length, offset;
      ok = ok && napi_get_typedarray_info(env, *slab, &type, &length, &data, &array_buffer, &offset) == napi_ok &&
           napi_create_reference(env, array_buffer, 0, &b.buffer) == napi_ok;
    }
    // The table is lent too, from the same reused vector: no zero-filled allocation and
    // no copy per batch. It is detached, and its memory reused, when the batch is released.
    // A uniform batch's descriptor: first, size, source, kUniform, count, stride (and two
    // words to spare), which JavaScript tells from a table by its first kind.
    size_t count = b.meta.size();
    if (b.uniform != 0) {
      count = 8;
      ok = ok && napi_create_arraybuffer(env, count * sizeof(uint32_t), &data, &array_buffer) == napi_ok;
      if (ok) {
        const uint32_t layout[8] = {b.first, b.size, b.source, kUniform, b.uniform, b.stride, 0, 0};
        memcpy(data, layout, sizeof(layout));
      }
    } else if (count == 0) {
      ok = ok && napi_create_arraybuffer(env, 0, &data, &array_buffer) == napi_ok;
    } else {
      std::shared_ptr<std::vector<uint32_t>> table;
      std::shared_ptr<void>* hint = nullptr;
      try {
        table = std::make_shared<std::vector<uint32_t>>(std::move(b.meta));
        hint = new std::shared_ptr<void>(table);
      } catch (...) {
        ok = false;
      }
      ok = ok && napi_create_external_arraybuffer(env, table->data(), count * sizeof(uint32_t), FreeOwner, hint, &array_buffer) == napi_ok;
      if (!ok) delete hint;
      ok = ok && napi_create_reference(env, array_buffer, 0, &b.table_buffer) == napi_ok;
      b.table = std::move(table);
    }
    ok = ok && napi_create_typedarray(env, napi_uint32_array, count, array_buffer, 0, meta) == napi_ok;
    ok = ok && napi_create_uint32(env, b.token, token) == napi_ok;
    ok = ok && napi_create_double(env, b.bytes, bytes) == napi_ok;
    ok = ok && napi_create_uint32(env, b.lost, lost) == napi_ok;
    return ok;
  }

  // Detaches an ArrayBuffer lent to JavaScript (JavaScript then sees zero bytes).
  static void DetachRef(napi_env env, napi_ref& ref) noexcept {
    if (ref == nullptr) return;
    napi_value value;
    if (env != nullptr && napi_get_reference_value(env, ref, &value) == napi_ok && value != nullptr) {
      napi_detach_arraybuffer(env, value);
    }
    if (env != nullptr) napi_delete_reference(env, ref);
    ref = nullptr;
  }

  // Detaches the batch's bytes and table; the table's memory is then ours to reuse.
  void Detach(napi_env env, Batch& b) noexcept {
    DetachRef(env, b.buffer);
    DetachRef(env, b.table_buffer);
    if (b.table) {
      ReturnTable(std::move(*b.table));
      b.table.reset();
    }
  }

  // Retires released batches in delivery order per ring (a batch held on one ring does
  // not hold the others), then polls again when the kernel buffers hold nothing of ours.
  void RetireReleased() noexcept {
    try {
      std::fill(blocked_.begin(), blocked_.end(), 0);
      for (auto it = outstanding_.begin(); it != outstanding_.end();) {
        uint32_t ring = it->ring;
        if (ring != Batch::kNoRing && ring >= blocked_.size()) blocked_.resize(ring + 1, 0);
        bool blocked = ring != Batch::kNoRing && blocked_[ring] != 0;
        if (it->released && !blocked) {
          self()->Retire(*it);
          it = outstanding_.erase(it);
          continue;
        }
        if (ring != Batch::kNoRing) blocked_[ring] = 1;
        ++it;
      }
    } catch (...) {  // out of memory for the flags: the plain delivery order is safe too
      while (!outstanding_.empty() && outstanding_.front().released) {
        self()->Retire(outstanding_.front());
        outstanding_.pop_front();
      }
    }
    UpdatePolling();
  }

  // Polls while JavaScript wants records and, for ring buffers, no batch is outstanding:
  // the ring reports readable while any byte is unconsumed, which would spin the loop,
  // and the kernel only wakes a consumer that has caught up anyway.
  void UpdatePolling() noexcept {
    bool want = wanted_ && self()->IsOpen() && !(self()->PausesWhileLent() && !outstanding_.empty());
    if (want && !poller_.active()) {
      if (poller_.Start(this->Env(), self()->EpollFd(), this) < 0) poller_.Stop();
    } else if (!want && poller_.active()) {
      poller_.Stop();
    }
  }

  void DropAll(napi_env env) noexcept {
    for (Batch& b : outstanding_) Detach(env, b);
    outstanding_.clear();
    ready_.clear();
    slab_meta_.clear();
    slab_.reset();
    pool_.clear();
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
    more_ = n > 0 && static_cast<uint32_t>(n) >= batch_size_;
    // Records consumed before a failure are delivered.
    while (!ready_.empty() && self()->IsOpen()) {
      napi_value args[6];
      if (napi_get_null(env, &args[0]) != napi_ok || !TakeBatch(env, &args[1], &args[2], &args[3], &args[4], &args[5])) return false;
      if (!callback_.IsEmpty() && !CallJs(env, *async_context_, callback_, 6, args)) return false;
    }
    UpdatePolling();
    if (n < 0) return DeliverError(env, "reader.consume", -n);
    return true;
  }

  void OnEnvTeardown() noexcept override {
    for (Batch& b : outstanding_) b.buffer = b.table_buffer = nullptr;  // the environment frees its references
    DropAll(nullptr);
    self()->FreeNative();
  }

  // start(): begin polling on the loop (idempotent).
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!self()->IsOpen()) ThrowBpfError(env, "reader.start", EBADF, "the reader is closed");
    if (wanted_) return env.Undefined();
    if (!self()->PausesWhileLent() || outstanding_.empty()) {
      int err = poller_.Start(env, self()->EpollFd(), this);
      if (err < 0) ThrowBpfError(env, "reader.start", -err, "uv_poll_start");
    }
    wanted_ = true;
    this->Ref();  // alive while polling, even if JavaScript drops it
    callback_.Ref();
    return env.Undefined();
  }

  // stop(): pause; records stay in the kernel buffers (backpressure).
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (wanted_) {
      wanted_ = false;
      poller_.Stop();
      this->Unref();
      callback_.Unref();
    }
    return info.Env().Undefined();
  }

  // consume(max?): drain synchronously, returning [slab, meta, token, bytes, lost] per batch.
  Napi::Value Consume(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!self()->IsOpen()) ThrowBpfError(env, "reader.consume", EBADF, "the reader is closed");
    uint32_t max = info[0].IsUndefined() ? batch_size_ : GetBatchSize(env, info[0]);
    int n = self()->ConsumeUpTo(max);
    more_ = n > 0 && static_cast<uint32_t>(n) >= max;
    if (n < 0 && ready_.empty()) Check(env, n, "reader.consume");
    Napi::Array out = Napi::Array::New(env);  // records consumed before a failure are returned
    for (uint32_t i = 0; !ready_.empty(); i++) {
      napi_value fields[5];
      if (!TakeBatch(env, &fields[0], &fields[1], &fields[2], &fields[3], &fields[4])) throw Napi::Error::New(env, "reader.consume: out of memory");
      Napi::Array batch = Napi::Array::New(env, 5);
      for (uint32_t f = 0; f < 5; f++) batch.Set(f, Napi::Value(env, fields[f]));
      out.Set(i, batch);
    }
    UpdatePolling();
    return out;
  }

  // release(token): JavaScript is done with a batch; its memory may be reused.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token = GetUint32(env, info[0], "token");
    for (auto it = outstanding_.begin(); it != outstanding_.end(); ++it) {
      if (it->token != token || it->released) continue;
      Detach(env, *it);
      it->released = true;
      if (!self()->HoldsKernelSpace()) {  // a slab: reusable at once, whatever the order
        self()->Retire(*it);
        outstanding_.erase(it);
      }
      RetireReleased();
      break;
    }
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool was_wanted = wanted_;
    wanted_ = false;
    DropAll(info.Env());
    Free();
    self()->FreeMemory();
    if (was_wanted) this->Unref();
    if (!callback_.IsEmpty()) callback_.Reset();
    return info.Env().Undefined();
  }

  Napi::Value GetClosed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !self()->IsOpen());
  }

  // more: the last drain stopped at its budget, so records may be left that no wake-up
  // will announce (a ring only wakes a consumer that has caught up; a perf event once).
  Napi::Value GetMore(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), more_); }

  Poller poller_;
  bool wanted_ = false;  // JavaScript asked for records (start) and has not stopped
  bool more_ = false;    // the last drain took its whole budget
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  uint32_t batch_size_ = 256;
  std::deque<Batch> ready_;        // drained, not yet handed to JavaScript
  std::deque<Batch> outstanding_;  // handed to JavaScript, in delivery order
  uint32_t next_token_ = 0;
  std::shared_ptr<Slab> slab_;  // the slab being filled (perf buffers)
  std::vector<uint32_t> slab_meta_;
  double slab_bytes_ = 0;    // its records' sizes, summed
  uint32_t slab_lost_ = 0;   // its lost-sample entries
  std::vector<uint32_t> table_;  // a spare record table
  std::vector<uint8_t> blocked_;  // per ring, while retiring: an earlier batch is still out
  std::vector<std::shared_ptr<Slab>> pool_;
};

}  // namespace ebpf
