// Attachments that are not BPF links: a socket's filter (SO_ATTACH_BPF), a tc filter on a
// clsact qdisc, an XDP program set through netlink. The kernel gives no fd for them, so a
// LinkHandle owns one of these instead, and destroying it detaches the program.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

namespace ebpf {

// An fd this process owns, closed once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int Get() const { return fd_; }
  int Release();
  // A duplicate (close-on-exec) of `fd`, or an invalid UniqueFd with errno set.
  static UniqueFd Dup(int fd);

 private:
  int fd_ = -1;
};

// libbpf's option structs may end in padding that libbpf checks is zero ("non-zero extra
// bytes"): fill them in place from all zero bytes, and never copy them.
template <typename T>
T* Zeroed(T* opts) {
  memset(static_cast<void*>(opts), 0, sizeof(T));
  opts->sz = sizeof(T);
  return opts;
}

class Attachment {
 public:
  virtual ~Attachment() = default;
  // The name Link.info gives for its type ("socket_filter", "tc", "xdp").
  virtual const char* Type() const = 0;
  // Atomically puts `prog_fd` where our program is: 0, or a negative errno.
  virtual int Replace(int prog_fd) = 0;
  // The program attached now (our own duplicate of its fd).
  int ProgramFd() const { return prog_.Get(); }

 protected:
  UniqueFd prog_;
};

// Each returns 0 and fills `out`, or a negative errno. The program fd is duplicated.
int AttachSocketFilter(int sock_fd, int prog_fd, std::unique_ptr<Attachment>* out);
// tc through a clsact qdisc (made if the interface has none; removed again when the last of
// our filters on a qdisc we made is detached). `priority` 0 lets the kernel choose.
int AttachClsact(int ifindex, bool egress, uint32_t priority, int prog_fd, std::unique_ptr<Attachment>* out);
// XDP through netlink, replacing atomically the program attached now in that mode (if any):
// `mode_flags` are XDP_FLAGS_{SKB,DRV,HW}_MODE or 0. `old_id` receives the replaced
// program's id (0: there was none).
int AttachXdpNetlink(int ifindex, uint32_t mode_flags, int prog_fd, uint32_t* old_id, std::unique_ptr<Attachment>* out);

}  // namespace ebpf
