// Read-ahead for a reader that is behind, shared by the ring and perf buffer readers.
// When a drain stops at its budget with records left, a helper thread checks the headers
// of the ring's next run of records shaped like the last batch's while JavaScript reads
// the batch just lent; the next drain takes what the thread has checked so far and walks
// only the rest. Nobody waits: the drain stops the thread where it is. One job at a time;
// the thread starts with the first job, so a reader that never falls behind never has one.
//
// A run is checked the same way on both threads (Count): a perf sample's header type and
// size and its raw size field; a ring record's length word, loaded with acquire (it says
// the record is committed, not busy and not discarded). What the thread reports checked
// stays as it is until the consumer position passes it, which only the drain moves, after
// it has handed those records out.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace ebpf {

class ReadAhead {
 public:
  enum class Format : uint32_t { kPerf, kRing };

  struct Job {  // built with braces, in this order
    Format format = Format::kPerf;
    const uint8_t* data = nullptr;  // the ring's data pages
    const void* head = nullptr;     // the producer's position (a 64-bit word the kernel moves)
    uint64_t mask = 0;
    uint64_t pos = 0;    // where the run starts
    uint64_t limit = 0;  // where a batch from `pos` must end at the latest
    uint32_t stride = 0;
    uint32_t size = 0;   // perf: the raw sample's size field; ring: the record's length word
    uint32_t budget = 0;
    uint32_t ring = 0;
  };

  ReadAhead() = default;
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;
  ~ReadAhead() { Stop(); }

  // A drain stopped at its budget with records left: the next run, from `job.pos`, is
  // handed to the thread (replacing one not yet taken). Skipped while resting (below).
  void Behind(const Job& job) noexcept;

  // A drain whose batch started at `start` and whose walk is at `pos`, the record after
  // the first, in a run of `stride`/`size` records that must end by `stop`: how many
  // records from `pos` the thread has already checked (0 when none, or no such job). Ends
  // the job. When two jobs in a row were found barely begun (under an eighth of `budget`:
  // a drain that came at once, as in a loop that releases each batch straight away), the
  // next 16 are not posted, so such a loop does not pay for a thread that never gets ahead.
  uint32_t Checked(uint32_t ring, uint64_t start, uint64_t pos, uint64_t stop, uint32_t stride, uint32_t size,
                   uint32_t budget) noexcept;

  // Ends the thread (waiting for a job in progress: it reads the rings' pages). Call it
  // before the pages go.
  void Stop() noexcept;

  // Records from `pos` like the run's, before `stop` and at most `budget` of them.
  static uint32_t Count(Format format, const uint8_t* data, uint64_t mask, uint64_t pos, uint64_t stop,
                        uint32_t stride, uint32_t size, uint32_t budget) noexcept;

  // The producer's position, with acquire: the records before it are written.
  static uint64_t Head(const void* head) noexcept {
    return __atomic_load_n(static_cast<const uint64_t*>(head), __ATOMIC_ACQUIRE);
  }

 private:
  static constexpr uint32_t kChunk = 512;  // records checked between two reports
  static constexpr uint32_t kRest = 16;    // jobs not posted after two misses
  void Run() noexcept;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::thread thread_;
  Job job_;
  uint32_t posted_ = 0;   // jobs posted (a job's serial)
  uint32_t started_ = 0;  // the last job the thread began
  uint32_t taken_ = 0;    // the last job taken
  bool stop_ = false;
  std::atomic<uint64_t> progress_{0};  // a job's serial << 32 | the records it has checked
  std::atomic<uint32_t> cancel_{0};    // the serial of a job to stop
  // The drain's thread only:
  uint32_t misses_ = 0;
  uint32_t rest_ = 0;
};

}  // namespace ebpf
