#include "read_ahead.h"

#include <linux/perf_event.h>

#include <cstring>

#include "reader.h"

namespace ebpf {

void ReadAhead::Behind(const Job& job) noexcept {
  if (rest_ > 0) {
    rest_--;
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (stop_) return;
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (...) {
      stop_ = true;  // no thread: every drain walks its runs itself
      return;
    }
  }
  // A job in progress is of no use once another is posted (a drain takes only the last):
  // it ends at its next check, and the thread moves on to this one.
  cancel_.store(started_, std::memory_order_relaxed);
  job_ = job;
  posted_++;
  cv_.notify_one();
}

uint32_t ReadAhead::Checked(uint32_t ring, uint64_t start, uint64_t pos, uint64_t stop, uint32_t stride,
                            uint32_t size, uint32_t budget) noexcept {
  if (pos != start + stride) return 0;
  uint32_t serial;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (taken_ == posted_ || job_.ring != ring || job_.pos != start || job_.stride != stride || job_.size != size) {
      return 0;
    }
    serial = taken_ = posted_;
  }
  cancel_.store(serial, std::memory_order_relaxed);
  // What the thread reports having checked is checked (release/acquire); it stops at its
  // next report.
  uint64_t progress = progress_.load(std::memory_order_acquire);
  uint32_t ahead = static_cast<uint32_t>(progress >> 32) == serial ? static_cast<uint32_t>(progress) : 0;
  misses_ = ahead < budget / 8 ? misses_ + 1 : 0;
  if (misses_ >= 2) {
    misses_ = 0;
    rest_ = kRest;
  }
  if (ahead <= 1) return 0;
  uint64_t n = ahead - 1;  // the thread's count includes the batch's first record
  if (n > budget) n = budget;
  uint64_t room = (stop - pos) / stride;
  return static_cast<uint32_t>(n < room ? n : room);
}

void ReadAhead::Stop() noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    cancel_.store(started_, std::memory_order_relaxed);  // a job in progress ends at its next check
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void ReadAhead::Run() noexcept {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || (started_ != posted_ && taken_ != posted_); });
    if (stop_) return;
    Job job = job_;
    uint32_t serial = started_ = posted_;
    lock.unlock();
    uint64_t head = Head(job.head);
    uint64_t stop = head < job.limit ? head : job.limit;
    uint32_t n = 0;
    while (n < job.budget && cancel_.load(std::memory_order_relaxed) != serial) {
      uint32_t most = job.budget - n < kChunk ? job.budget - n : kChunk;
      uint32_t got =
          Count(job.format, job.data, job.mask, job.pos + uint64_t{n} * job.stride, stop, job.stride, job.size, most);
      n += got;
      progress_.store(uint64_t{serial} << 32 | n, std::memory_order_release);
      if (got < most) break;
    }
    lock.lock();
  }
}

uint32_t ReadAhead::Count(Format format, const uint8_t* data, uint64_t mask, uint64_t pos, uint64_t stop,
                          uint32_t stride, uint32_t size, uint32_t budget) noexcept {
  uint32_t n = 0;
  if (format == Format::kRing) {
    // A length word that says `size` (no busy or discard bit) before the producer's
    // position: a committed record, whole (the data area is mapped twice: no wrap).
    while (n < budget && pos + stride <= stop) {
      __builtin_prefetch(data + ((pos + kPrefetchBytes) & mask));
      if (__atomic_load_n(reinterpret_cast<const uint32_t*>(data + (pos & mask)), __ATOMIC_ACQUIRE) != size) break;
      pos += stride;
      n++;
    }
    return n;
  }
  while (n < budget && pos + stride <= stop) {
    __builtin_prefetch(data + ((pos + kPrefetchBytes) & mask));
    const uint8_t* at = data + (pos & mask);  // the whole record is before the ring's end
    perf_event_header h;
    uint32_t raw;
    memcpy(&h, at, sizeof(h));
    memcpy(&raw, at + sizeof(h), sizeof(raw));
    if (h.type != PERF_RECORD_SAMPLE || h.size != stride || raw != size) break;
    pos += stride;
    n++;
  }
  return n;
}

}  // namespace ebpf
