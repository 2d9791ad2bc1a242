#include "system.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <vector>

#include "link.h"
#include "map.h"
#include "util/args.h"
#include "util/errors.h"

namespace ebpf {
namespace {

// Closes an fd when the scope ends (describing it may throw).
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

__u64 PointerTo(void* p) { return static_cast<__u64>(reinterpret_cast<uintptr_t>(p)); }

std::string TypeName(const char* name) { return name != nullptr ? name : "unknown"; }

std::string AttachTypeName(__u32 type) {
  return TypeName(libbpf_bpf_attach_type_str(static_cast<bpf_attach_type>(type)));
}

// Link types newer than the UAPI headers we may build with (Linux 6.1): their numbers, and
// the start of their part of bpf_link_info's union, which the kernel lays out as below.
constexpr __u32 kLinkNetfilter = 10;
constexpr __u32 kLinkTcx = 11;
constexpr __u32 kLinkNetkit = 13;
struct DeviceLinkInfo {  // tcx, netkit
  __u32 ifindex;
  __u32 attach_type;
};
struct NetfilterLinkInfo {
  __u32 pf;
  __u32 hooknum;
  __s32 priority;
  __u32 flags;
};

// perf_event links (Linux 6.6): what the perf event is, and for tracepoints, uprobes and
// kprobes a name the kernel copies into a buffer of ours.
constexpr __u32 kLinkPerfEvent = 7;
enum PerfEventType : __u32 { kUprobe = 1, kUretprobe, kKprobe, kKretprobe, kTracepoint, kEvent };
struct PerfEventLinkInfo {
  __u32 type;
  __u32 pad;
  __u64 name;      // event: config
  __u32 name_len;  // event: type
  __u32 offset;
  __u64 addr;  // kprobe
};

template <typename T>
T UnionStart(const bpf_link_info& info) {
  T out;
  std::memcpy(&out, &info.raw_tracepoint, sizeof(out));
  return out;
}

// "eth0 (ifindex 2)", or "ifindex 2" when the interface is in another network namespace.
std::string InterfaceName(__u32 ifindex) {
  char name[IF_NAMESIZE] = {};
  if (if_indextoname(ifindex, name) != nullptr) return std::string(name) + " (ifindex " + std::to_string(ifindex) + ")";
  return "ifindex " + std::to_string(ifindex);
}

// Every id of one kind, in order; an object that goes away between listing and opening is
// skipped. `next_id` refuses without CAP_SYS_ADMIN (EPERM).
template <typename Describe>
Napi::Value ListAll(Napi::Env env, const char* operation, int (*next_id)(__u32, __u32*), int (*fd_by_id)(__u32),
                    Describe describe) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  __u32 id = 0;
  for (;;) {
    int err = next_id(id, &id);
    if (err == -ENOENT) break;
    Check(env, err, operation);
    int fd = fd_by_id(id);
    if (fd == -ENOENT) continue;
    Check(env, fd, operation, "id " + std::to_string(id));
    ScopedFd owned(fd);
    out.Set(n++, describe(env, owned.get(), operation));
  }
  return out;
}

uint32_t GetId(Napi::Env env, const Napi::Value& value, const char* operation) {
  uint32_t id = GetUint32(env, value, "id");
  if (id == 0) ThrowBpfError(env, operation, ENOENT, "id 0: ids start at 1");
  return id;
}

}  // namespace

Napi::Object ProgramInfoObject(Napi::Env env, int fd, const std::string& operation) {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  Check(env, bpf_obj_get_info_by_fd(fd, &info, &len), operation);
  std::vector<__u32> map_ids(info.nr_map_ids);
  if (!map_ids.empty()) {
    bpf_prog_info again{};
    again.nr_map_ids = static_cast<__u32>(map_ids.size());
    again.map_ids = PointerTo(map_ids.data());
    len = sizeof(again);
    Check(env, bpf_obj_get_info_by_fd(fd, &again, &len), operation);
    map_ids.resize(std::min<size_t>(again.nr_map_ids, map_ids.size()));
  }
  char tag[2 * BPF_TAG_SIZE + 1] = {};
  for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", info.tag[i]);
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", info.id);
  out.Set("name", std::string(info.name, strnlen(info.name, sizeof(info.name))));
  out.Set("type", TypeName(libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(info.type))));
  out.Set("tag", tag);
  out.Set("loadTimeNs", Napi::BigInt::New(env, static_cast<uint64_t>(info.load_time)));
  out.Set("uid", info.created_by_uid);
  Napi::Array ids = Napi::Array::New(env, map_ids.size());
  for (size_t i = 0; i < map_ids.size(); i++) ids.Set(static_cast<uint32_t>(i), map_ids[i]);
  out.Set("mapIds", ids);
  out.Set("btfId", info.btf_id);
  out.Set("gplCompatible", static_cast<bool>(info.gpl_compatible));
  out.Set("jitedSize", info.jited_prog_len);
  out.Set("xlatedSize", info.xlated_prog_len);
  out.Set("verifiedInstructions", info.verified_insns);
  out.Set("runCount", Napi::BigInt::New(env, static_cast<uint64_t>(info.run_cnt)));
  out.Set("runTimeNs", Napi::BigInt::New(env, static_cast<uint64_t>(info.run_time_ns)));
  return out;
}

Napi::Object MapInfoObject(Napi::Env env, int fd, const std::string& operation) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  Check(env, bpf_obj_get_info_by_fd(fd, &info, &len), operation);
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", info.id);
  out.Set("name", std::string(info.name, strnlen(info.name, sizeof(info.name))));
  out.Set("type", TypeName(libbpf_bpf_map_type_str(static_cast<bpf_map_type>(info.type))));
  out.Set("keySize", info.key_size);
  out.Set("valueSize", info.value_size);
  out.Set("maxEntries", info.max_entries);
  out.Set("flags", info.map_flags);
  out.Set("btfId", info.btf_id);
  return out;
}

Napi::Object LinkInfoObject(Napi::Env env, int fd, const std::string& operation) {
  char name[512] = {};
  bpf_link_info info{};
  __u32 len = sizeof(info);
  Check(env, bpf_obj_get_info_by_fd(fd, &info, &len), operation);
  // The kernel fills names only when given a buffer: ask again with one.
  PerfEventLinkInfo perf{};
  if (info.type == kLinkPerfEvent) {
    // Its part of the union is larger than in the Linux 6.1 headers: a larger buffer, zeroed
    // (older kernels take it as long as the bytes they do not know are zero).
    alignas(8) unsigned char raw[256] = {};
    constexpr size_t at = offsetof(bpf_link_info, raw_tracepoint);
    perf.name = PointerTo(name);
    perf.name_len = sizeof(name) - 1;
    std::memcpy(raw + at, &perf, sizeof(perf));
    len = sizeof(raw);
    if (bpf_obj_get_info_by_fd(fd, raw, &len) == 0 && len >= at + sizeof(perf)) {
      std::memcpy(&perf, raw + at, sizeof(perf));
    } else {
      perf = PerfEventLinkInfo{};  // a kernel that does not describe perf_event links
    }
  }
  if (info.type == BPF_LINK_TYPE_RAW_TRACEPOINT || info.type == BPF_LINK_TYPE_ITER) {
    bpf_link_info again{};
    if (info.type == BPF_LINK_TYPE_RAW_TRACEPOINT) {
      again.raw_tracepoint.tp_name = PointerTo(name);
      again.raw_tracepoint.tp_name_len = sizeof(name) - 1;
    } else {
      again.iter.target_name = PointerTo(name);
      again.iter.target_name_len = sizeof(name) - 1;
    }
    len = sizeof(again);
    Check(env, bpf_obj_get_info_by_fd(fd, &again, &len), operation);
    info = again;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", info.id);
  out.Set("type", TypeName(libbpf_bpf_link_type_str(static_cast<bpf_link_type>(info.type))));
  out.Set("programId", info.prog_id);
  std::string target;
  switch (info.type) {
    case BPF_LINK_TYPE_RAW_TRACEPOINT:
      target = std::string("raw_tracepoint ") + name;
      out.Set("targetName", name);
      break;
    case BPF_LINK_TYPE_ITER:
      target = std::string("iter ") + name;
      out.Set("targetName", name);
      break;
    case BPF_LINK_TYPE_TRACING:
      target = AttachTypeName(info.tracing.attach_type) + " btf_id " + std::to_string(info.tracing.target_btf_id);
      out.Set("attachType", AttachTypeName(info.tracing.attach_type));
      out.Set("targetBtfId", info.tracing.target_btf_id);
      out.Set("targetObjectId", info.tracing.target_obj_id);
      break;
    case BPF_LINK_TYPE_CGROUP:
      target = AttachTypeName(info.cgroup.attach_type) + " cgroup id " + std::to_string(info.cgroup.cgroup_id);
      out.Set("attachType", AttachTypeName(info.cgroup.attach_type));
      out.Set("cgroupId", Napi::BigInt::New(env, static_cast<uint64_t>(info.cgroup.cgroup_id)));
      out.Set("detached", info.cgroup.cgroup_id == 0);
      break;
    case BPF_LINK_TYPE_NETNS:
      target = AttachTypeName(info.netns.attach_type) + " netns " + std::to_string(info.netns.netns_ino);
      out.Set("attachType", AttachTypeName(info.netns.attach_type));
      out.Set("netnsIno", info.netns.netns_ino);
      break;
    case BPF_LINK_TYPE_XDP:
      // ifindex 0: the interface went away (the link is detached).
      target = info.xdp.ifindex != 0 ? "xdp " + InterfaceName(info.xdp.ifindex) : "xdp (detached)";
      out.Set("ifindex", info.xdp.ifindex);
      out.Set("detached", info.xdp.ifindex == 0);
      break;
    case kLinkTcx:
    case kLinkNetkit: {
      auto dev = UnionStart<DeviceLinkInfo>(info);
      target = AttachTypeName(dev.attach_type) + " " + (dev.ifindex != 0 ? InterfaceName(dev.ifindex) : "(detached)");
      out.Set("attachType", AttachTypeName(dev.attach_type));
      out.Set("ifindex", dev.ifindex);
      out.Set("detached", dev.ifindex == 0);
      break;
    }
    case kLinkNetfilter: {
      auto nf = UnionStart<NetfilterLinkInfo>(info);
      target = "netfilter pf " + std::to_string(nf.pf) + " hook " + std::to_string(nf.hooknum) + " priority " +
               std::to_string(nf.priority);
      break;
    }
    case kLinkPerfEvent:
      switch (perf.type) {
        case kTracepoint:
          target = std::string("tracepoint ") + name;
          out.Set("targetName", name);
          break;
        case kUprobe:
        case kUretprobe:
        case kKprobe:
        case kKretprobe: {
          char offset[32];
          snprintf(offset, sizeof(offset), "+0x%x", perf.offset);
          bool uprobe = perf.type == kUprobe || perf.type == kUretprobe;
          bool ret = perf.type == kUretprobe || perf.type == kKretprobe;
          target = std::string(uprobe ? "u" : "k") + (ret ? "retprobe " : "probe ") + name + offset;
          out.Set("targetName", name);
          break;
        }
        case kEvent:
          // (Linux 6.18 reports the event's type here as 6, its own code for "event": left out.)
          target = "perf event config " + std::to_string(perf.name);
          break;
        default:
          break;  // a kernel older than 6.6 does not say
      }
      break;
    default:
      break;  // kprobe_multi, struct_ops...: the type says what
  }
  out.Set("target", target);
  return out;
}

Napi::Value ListPrograms(const Napi::CallbackInfo& info) {
  return ListAll(info.Env(), "listPrograms", bpf_prog_get_next_id, bpf_prog_get_fd_by_id, ProgramInfoObject);
}

Napi::Value ListMaps(const Napi::CallbackInfo& info) {
  return ListAll(info.Env(), "listMaps", bpf_map_get_next_id, bpf_map_get_fd_by_id, MapInfoObject);
}

Napi::Value ListLinks(const Napi::CallbackInfo& info) {
  return ListAll(info.Env(), "listLinks", bpf_link_get_next_id, bpf_link_get_fd_by_id, LinkInfoObject);
}

Napi::Value ProgramInfoById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = GetId(env, info[0], "programInfo");
  int fd = Check(env, bpf_prog_get_fd_by_id(id), "programInfo", "program id " + std::to_string(id));
  ScopedFd owned(fd);
  return ProgramInfoObject(env, owned.get(), "programInfo");
}

Napi::Value OpenMapById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = GetId(env, info[0], "BpfMap.fromId");
  std::string detail = "map id " + std::to_string(id);
  int fd = Check(env, bpf_map_get_fd_by_id(id), "BpfMap.fromId", detail);
  return MapHandle::FromFd(env, fd, "BpfMap.fromId", detail);
}

Napi::Value OpenLinkById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = GetId(env, info[0], "Link.fromId");
  int fd = Check(env, bpf_link_get_fd_by_id(id), "Link.fromId", "link id " + std::to_string(id));
  return LinkHandle::NewFromFd(env, fd, env.Null());
}

// interfaceIndex(name | index) -> the index in this thread's network namespace (asked of
// the kernel, not sysfs, which shows the namespace it was mounted in), or 0 when there is none.
Napi::Value InterfaceIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info[0].IsNumber()) {
    char name[IF_NAMESIZE] = {};
    uint32_t index = GetUint32(env, info[0], "interface index");
    return Napi::Number::New(env, if_indextoname(index, name) != nullptr ? index : 0);
  }
  return Napi::Number::New(env, if_nametoindex(GetString(env, info[0], "interface name").c_str()));
}

Napi::Value OpenPinnedLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = GetString(env, info[0], "pin path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowBpfError(env, "Link.openPinned", errno, path);
  // A pin may hold a map or a program too: the fd's kind tells (info by fd would not).
  char target[64] = {};
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(self.c_str(), target, sizeof(target) - 1);
  // ("anon_inode:bpf_link" from attaching, "anon_inode:bpf-link" from a pin)
  if (n <= 0 || (std::strcmp(target, "anon_inode:bpf_link") != 0 && std::strcmp(target, "anon_inode:bpf-link") != 0)) {
    close(fd);
    ThrowBpfError(env, "Link.openPinned", EINVAL, path + " is pinned, but not a link (a map or a program?)");
  }
  return LinkHandle::NewFromFd(env, fd, env.Null());
}

}  // namespace ebpf
