#include "attachment.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <utility>

namespace ebpf {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    UniqueFd old(fd_);
    fd_ = other.Release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) close(fd_);
}

int UniqueFd::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

UniqueFd UniqueFd::Dup(int fd) { return UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

namespace {

// --- socket filters ---------------------------------------------------------------------

// The socket is the user's: we keep its fd number and its identity (device and inode), and
// touch it again only while that fd is still the same socket. A socket that was closed
// took its filter with it.
class SocketFilter : public Attachment {
 public:
  SocketFilter(int sock, const struct stat& st, UniqueFd prog) : sock_(sock), dev_(st.st_dev), ino_(st.st_ino) {
    prog_ = std::move(prog);
  }
  ~SocketFilter() override {
    int unused = 0;
    if (Same()) setsockopt(sock_, SOL_SOCKET, SO_DETACH_BPF, &unused, sizeof(unused));
  }
  const char* Type() const override { return "socket_filter"; }
  int Replace(int prog_fd) override {
    if (!Same()) return -EBADF;
    UniqueFd dup = UniqueFd::Dup(prog_fd);
    if (dup.Get() < 0) return -errno;
    if (setsockopt(sock_, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof(prog_fd)) < 0) return -errno;
    prog_ = std::move(dup);
    return 0;
  }

 private:
  bool Same() const {
    struct stat st;
    return fstat(sock_, &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
  }

  int sock_;
  dev_t dev_;
  ino_t ino_;
};

// --- tc on a clsact qdisc ---------------------------------------------------------------

// clsact qdiscs this process made, by (network namespace, ifindex): how many of our filters
// are on each. The last one detached removes the qdisc; a qdisc made by someone else is
// never removed.
using QdiscKey = std::pair<uint64_t, int>;
std::mutex qdisc_mutex;
std::map<QdiscKey, int> our_qdiscs;

QdiscKey KeyOf(int ifindex) {
  struct stat st;
  uint64_t netns = stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
  return {netns, ifindex};
}

bpf_tc_hook* TcHook(bpf_tc_hook* hook, int ifindex, int point) {
  Zeroed(hook)->ifindex = ifindex;
  hook->attach_point = static_cast<bpf_tc_attach_point>(point);
  return hook;
}

// Forgets one of our filters on the qdisc; removes the qdisc when it was the last.
void ReleaseQdisc(const QdiscKey& key) {
  std::lock_guard<std::mutex> lock(qdisc_mutex);
  auto it = our_qdiscs.find(key);
  if (it == our_qdiscs.end() || --it->second > 0) return;
  our_qdiscs.erase(it);
  bpf_tc_hook all;
  bpf_tc_hook_destroy(TcHook(&all, key.second, BPF_TC_INGRESS | BPF_TC_EGRESS));
}

class Clsact : public Attachment {
 public:
  Clsact(int ifindex, int point, const bpf_tc_opts& opts, bool ours, QdiscKey key, UniqueFd prog)
      : ifindex_(ifindex), point_(point), handle_(opts.handle), priority_(opts.priority), ours_(ours), key_(key) {
    prog_ = std::move(prog);
  }
  ~Clsact() override {
    bpf_tc_hook hook;
    bpf_tc_opts opts;
    bpf_tc_detach(TcHook(&hook, ifindex_, point_), Opts(&opts, 0, 0));
    if (ours_) ReleaseQdisc(key_);
  }
  const char* Type() const override { return "tc"; }
  int Replace(int prog_fd) override {
    UniqueFd dup = UniqueFd::Dup(prog_fd);
    if (dup.Get() < 0) return -errno;
    bpf_tc_hook hook;
    bpf_tc_opts opts;
    int err = bpf_tc_attach(TcHook(&hook, ifindex_, point_), Opts(&opts, prog_fd, BPF_TC_F_REPLACE));
    if (err < 0) return err;
    prog_ = std::move(dup);
    return 0;
  }

 private:
  bpf_tc_opts* Opts(bpf_tc_opts* opts, int prog_fd, uint32_t flags) const {
    Zeroed(opts)->prog_fd = prog_fd;
    opts->flags = flags;
    opts->handle = handle_;
    opts->priority = priority_;
    return opts;
  }

  int ifindex_;
  int point_;
  uint32_t handle_;
  uint32_t priority_;
  bool ours_;
  QdiscKey key_;
};

// --- XDP through netlink ----------------------------------------------------------------

// Detaching names our program as the one expected, so a program someone else put there
// since is left alone.
class XdpNetlink : public Attachment {
 public:
  XdpNetlink(int ifindex, uint32_t mode, UniqueFd prog) : ifindex_(ifindex), mode_(mode) { prog_ = std::move(prog); }
  ~XdpNetlink() override {
    bpf_xdp_attach_opts opts;
    bpf_xdp_detach(ifindex_, mode_ | XDP_FLAGS_REPLACE, Expecting(&opts, prog_.Get()));
  }
  const char* Type() const override { return "xdp"; }
  int Replace(int prog_fd) override {
    UniqueFd dup = UniqueFd::Dup(prog_fd);
    if (dup.Get() < 0) return -errno;
    bpf_xdp_attach_opts opts;
    int err = bpf_xdp_attach(ifindex_, prog_fd, mode_ | XDP_FLAGS_REPLACE, Expecting(&opts, prog_.Get()));
    if (err < 0) return err;
    prog_ = std::move(dup);
    return 0;
  }

  static const bpf_xdp_attach_opts* Expecting(bpf_xdp_attach_opts* opts, int old_prog_fd) {
    Zeroed(opts)->old_prog_fd = old_prog_fd;
    return opts;
  }

 private:
  int ifindex_;
  uint32_t mode_;
};

}  // namespace

int AttachSocketFilter(int sock_fd, int prog_fd, std::unique_ptr<Attachment>* out) {
  struct stat st;
  if (fstat(sock_fd, &st) < 0) return -errno;
  if (!S_ISSOCK(st.st_mode)) return -ENOTSOCK;
  UniqueFd prog = UniqueFd::Dup(prog_fd);
  if (prog.Get() < 0) return -errno;
  if (setsockopt(sock_fd, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof(prog_fd)) < 0) return -errno;
  *out = std::make_unique<SocketFilter>(sock_fd, st, std::move(prog));
  return 0;
}

int AttachClsact(int ifindex, bool egress, uint32_t priority, int prog_fd, std::unique_ptr<Attachment>* out) {
  UniqueFd prog = UniqueFd::Dup(prog_fd);
  if (prog.Get() < 0) return -errno;
  int point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
  bpf_tc_hook hook;
  TcHook(&hook, ifindex, point);
  QdiscKey key = KeyOf(ifindex);
  std::lock_guard<std::mutex> lock(qdisc_mutex);
  int err = bpf_tc_hook_create(&hook);
  if (err < 0 && err != -EEXIST) return err;
  bool made = err == 0;
  bool ours = made || our_qdiscs.count(key) != 0;
  bpf_tc_opts opts;
  Zeroed(&opts)->prog_fd = prog_fd;
  opts.priority = priority;
  err = bpf_tc_attach(&hook, &opts);
  if (err < 0) {
    if (made) {
      bpf_tc_hook all;
      bpf_tc_hook_destroy(TcHook(&all, ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
    }
    return err;
  }
  if (ours) our_qdiscs[key]++;
  *out = std::make_unique<Clsact>(ifindex, point, opts, ours, key, std::move(prog));
  return 0;
}

int AttachXdpNetlink(int ifindex, uint32_t mode_flags, int prog_fd, uint32_t* old_id, std::unique_ptr<Attachment>* out) {
  UniqueFd prog = UniqueFd::Dup(prog_fd);
  if (prog.Get() < 0) return -errno;
  bpf_xdp_query_opts query;
  int err = bpf_xdp_query(ifindex, static_cast<int>(mode_flags), Zeroed(&query));
  if (err < 0) return err;
  *old_id = (mode_flags & XDP_FLAGS_SKB_MODE)   ? query.skb_prog_id
            : (mode_flags & XDP_FLAGS_DRV_MODE) ? query.drv_prog_id
            : (mode_flags & XDP_FLAGS_HW_MODE)  ? query.hw_prog_id
                                                : query.prog_id;
  UniqueFd old;
  uint32_t flags = mode_flags | XDP_FLAGS_UPDATE_IF_NOEXIST;
  if (*old_id != 0) {
    old = UniqueFd(bpf_prog_get_fd_by_id(*old_id));
    if (old.Get() < 0) return -errno;
    flags = mode_flags | XDP_FLAGS_REPLACE;
  }
  bpf_xdp_attach_opts opts;
  err = bpf_xdp_attach(ifindex, prog_fd, flags, *old_id != 0 ? XdpNetlink::Expecting(&opts, old.Get()) : nullptr);
  if (err < 0) return err;
  *out = std::make_unique<XdpNetlink>(ifindex, mode_flags, std::move(prog));
  return 0;
}

}  // namespace ebpf
