#include "program.h"

#include <bpf/bpf.h>

#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cerrno>
#include <vector>

#include "addon.h"
#include "link.h"
#include "object.h"
#include "system.h"
#include "util/args.h"
#include "util/errors.h"
#include "util/type_tags.h"
#include "util/log.h"

namespace ebpf {
namespace {

#ifdef BPF_F_BEFORE
constexpr bpf_attach_type kTcxIngress = BPF_TCX_INGRESS;
constexpr bpf_attach_type kTcxEgress = BPF_TCX_EGRESS;
#else
// UAPI headers older than Linux 6.6 (a system libbpf on Debian 12) lack tcx: its attach
// types by their ABI numbers.
constexpr bpf_attach_type kTcxIngress = static_cast<bpf_attach_type>(46);
constexpr bpf_attach_type kTcxEgress = static_cast<bpf_attach_type>(47);
#endif

}  // namespace

Napi::Function ProgramHandle::Init(Napi::Env env) {
  return DefineClass(env, "ProgramHandle", {
      InstanceAccessor("name", &ProgramHandle::GetName, nullptr),
      InstanceAccessor("section", &ProgramHandle::GetSection, nullptr),
      InstanceAccessor("type", &ProgramHandle::GetType, nullptr),
      InstanceAccessor("fd", &ProgramHandle::GetFd, nullptr),
      InstanceAccessor("autoload", &ProgramHandle::GetAutoload, &ProgramHandle::SetAutoload),
      InstanceAccessor("autoattach", &ProgramHandle::GetAutoattach, nullptr),
      InstanceMethod("attach", &ProgramHandle::Attach),
      InstanceMethod("attachTracepoint", &ProgramHandle::AttachTracepoint),
      InstanceMethod("attachRawTracepoint", &ProgramHandle::AttachRawTracepoint),
      InstanceMethod("testRun", &ProgramHandle::TestRun),
      InstanceMethod("attachXdp", &ProgramHandle::AttachXdp),
      InstanceMethod("attachTcx", &ProgramHandle::AttachTcx),
      InstanceMethod("attachUprobe", &ProgramHandle::AttachUprobe),
      InstanceMethod("attachIter", &ProgramHandle::AttachIter),
      InstanceMethod("attachCgroup", &ProgramHandle::AttachCgroup),
      InstanceMethod("attachKprobe", &ProgramHandle::AttachKprobe),
      InstanceMethod("attachKsyscall", &ProgramHandle::AttachKsyscall),
      InstanceMethod("attachTrace", &ProgramHandle::AttachTrace),
      InstanceMethod("attachLsm", &ProgramHandle::AttachLsm),
      InstanceMethod("info", &ProgramHandle::Info),
      InstanceMethod("attachPerfEvent", &ProgramHandle::AttachPerfEvent),
      InstanceMethod("attachKprobeMulti", &ProgramHandle::AttachKprobeMulti),
      InstanceMethod("attachUprobeMulti", &ProgramHandle::AttachUprobeMulti),
      InstanceMethod("attachUsdt", &ProgramHandle::AttachUsdt),
      InstanceMethod("attachSocketFilter", &ProgramHandle::AttachSocketFilter),
      InstanceMethod("attachSkLookup", &ProgramHandle::AttachSkLookup),
      InstanceMethod("attachNetfilter", &ProgramHandle::AttachNetfilter),
      InstanceMethod("attachTcClsact", &ProgramHandle::AttachTcClsact),
      InstanceMethod("attachXdpReplace", &ProgramHandle::AttachXdpReplace),
  });
}

Napi::Object ProgramHandle::New(Napi::Env env, Napi::Value owner, bpf_program* prog) {
  return Create(Addon::Get(env)->program_ctor, owner, prog);
}

// Only constructed by ObjectHandle::Programs.
ProgramHandle::ProgramHandle(const Napi::CallbackInfo& info) : OwnedHandle(info, "ProgramHandle", Kind::Program) {
  name_ = bpf_program__name(raw_);
}

Napi::Value ProgramHandle::GetName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), name_);
}

Napi::Value ProgramHandle::GetSection(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), bpf_program__section_name(Require(info.Env(), "program.section")));
}

Napi::Value ProgramHandle::GetType(const Napi::CallbackInfo& info) {
  const char* s = libbpf_bpf_prog_type_str(bpf_program__type(Require(info.Env(), "program.type")));
  return Napi::String::New(info.Env(), s != nullptr ? s : "unknown");
}

Napi::Value ProgramHandle::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bpf_program__fd(Require(info.Env(), "program.fd")));
}

Napi::Value ProgramHandle::GetAutoload(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), bpf_program__autoload(Require(info.Env(), "program.autoload")));
}

void ProgramHandle::SetAutoload(const Napi::CallbackInfo& info, const Napi::Value& value) {
  Napi::Env env = info.Env();
  bpf_program* prog = Require(env, "program.autoload");
  if (!value.IsBoolean()) ThrowTypeError(env, "autoload must be a boolean");
  Check(env, bpf_program__set_autoload(prog, value.As<Napi::Boolean>().Value()), "program.autoload",
        "program '" + name_ + "'");
}

Napi::Value ProgramHandle::GetAutoattach(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), bpf_program__autoattach(Require(info.Env(), "program.autoattach")));
}

Napi::Value ProgramHandle::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string section = bpf_program__section_name(Require(env, "attach"));
  return AttachWith(env, "attach", "SEC(\"" + section + "\")",
                    [](bpf_program* p) { return bpf_program__attach(p); });
}

Napi::Value ProgramHandle::AttachTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string category = GetString(env, info[0], "tracepoint category");
  std::string name = GetString(env, info[1], "tracepoint name");
  return AttachWith(env, "attachTracepoint", "tracepoint " + category + "/" + name, [&](bpf_program* p) {
    return bpf_program__attach_tracepoint(p, category.c_str(), name.c_str());
  });
}

Napi::Value ProgramHandle::AttachRawTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = GetString(env, info[0], "raw tracepoint name");
  return AttachWith(env, "attachRawTracepoint", "raw tracepoint " + name,
                    [&](bpf_program* p) { return bpf_program__attach_raw_tracepoint(p, name.c_str()); });
}

// A link made with BPF_LINK_CREATE directly (for attach types whose options libbpf's
// attach helpers do not take), held as a bare fd. `why(err)` may explain a failure.
Napi::Value ProgramHandle::LinkCreate(Napi::Env env, const char* operation, int target_fd, bpf_attach_type type,
                                      uint32_t flags, const std::string& target,
                                      const std::function<std::string(int)>& why) {
  int prog_fd = LoadedFd(env, operation);
  bpf_link_create_opts opts;
  Zeroed(&opts)->flags = flags;
  int fd = bpf_link_create(prog_fd, target_fd, type, &opts);
  if (fd < 0) {
    std::string reason = why ? why(-fd) : std::string();
    ThrowBpfError(env, operation, -fd, "program '" + name_ + "' to " + target + (reason.empty() ? "" : ": " + reason));
  }
  return LinkHandle::NewFromFd(env, fd, owner_.Value());
}

// attachXdp(ifindex, flags): XDP_FLAGS_SKB_MODE (2), XDP_FLAGS_DRV_MODE (4),
// XDP_FLAGS_HW_MODE (8), or 0 for the best the driver has.
Napi::Value ProgramHandle::AttachXdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = GetUint32(env, info[0], "ifindex");
  uint32_t flags = GetUint32(env, info[1], "flags");
  auto why = [&](int err) -> std::string {
    __u32 id = 0;
    if (err != EBUSY || bpf_xdp_query_id(static_cast<int>(ifindex), static_cast<int>(flags), &id) < 0 || id == 0) return "";
    return "the interface already has an XDP program (id " + std::to_string(id) +
           "): if another tool attached it through netlink, pass replace: true to replace it; "
           "if a BPF link holds it, only that link's owner can replace it (link.update())";
  };
  return LinkCreate(env, "attachXdp", static_cast<int>(ifindex), BPF_XDP, flags, "XDP of ifindex " + std::to_string(ifindex), why);
}

// attachTcx(ifindex, egress): tc programs through tcx links (Linux 6.6 and later).
Napi::Value ProgramHandle::AttachTcx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = GetUint32(env, info[0], "ifindex");
  bool egress = info[1].ToBoolean().Value();
  return LinkCreate(env, "attachTc", static_cast<int>(ifindex), egress ? kTcxEgress : kTcxIngress, 0,
                    std::string("tcx ") + (egress ? "egress" : "ingress") + " of ifindex " + std::to_string(ifindex));
}

// attachUprobe(binary, symbol | "", offset, pid, retprobe, cookie)
Napi::Value ProgramHandle::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string binary = GetString(env, info[0], "binary");
  std::string symbol = info[1].IsString() ? GetString(env, info[1], "symbol") : "";
  uint32_t offset = GetUint32(env, info[2], "offset");
  int pid = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : -1;
  bool retprobe = info[4].ToBoolean().Value();
  uint64_t cookie = GetOptionalUint64(env, info[5], "cookie");
  bpf_uprobe_opts opts{};
  opts.sz = sizeof(opts);
  opts.retprobe = retprobe;
  opts.bpf_cookie = cookie;
  if (!symbol.empty()) opts.func_name = symbol.c_str();
  std::string target = std::string(retprobe ? "uretprobe " : "uprobe ") + binary + ":" + (symbol.empty() ? std::to_string(offset) : symbol);
  return AttachWith(env, "attachUprobe", target, [&](bpf_program* p) {
    return bpf_program__attach_uprobe_opts(p, pid, binary.c_str(), offset, &opts);
  });
}

// attachIter(): an iterator link (SEC("iter/...")); read it with link.readIter().
Napi::Value ProgramHandle::AttachIter(const Napi::CallbackInfo& info) {
  return AttachWith(info.Env(), "attachIter", "an iterator", [](bpf_program* p) { return bpf_program__attach_iter(p, nullptr); });
}

// attachCgroup(path, attachType?): cgroup programs on the cgroup v2 directory at `path`, as
// their SEC() says or as `attachType` (libbpf's name, e.g. "cgroup_inet_egress") says.
Napi::Value ProgramHandle::AttachCgroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = GetString(env, info[0], "cgroup path");
  std::string type_name = info[1].IsUndefined() ? "" : GetString(env, info[1], "attachType");
  bpf_attach_type type = BPF_CGROUP_INET_INGRESS;
  if (!type_name.empty()) {
    bool known = false;
    for (int t = 0; !known && libbpf_bpf_attach_type_str(static_cast<bpf_attach_type>(t)) != nullptr; t++) {
      known = type_name == libbpf_bpf_attach_type_str(static_cast<bpf_attach_type>(t));
      if (known) type = static_cast<bpf_attach_type>(t);
    }
    if (!known) ThrowTypeError(env, "attachType: unknown attach type '" + type_name + "' (libbpf's names, e.g. cgroup_inet_egress, cgroup_inet_sock_create)");
  }
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowBpfError(env, "attachCgroup", errno, path);
  std::string target = "cgroup " + path + (type_name.empty() ? "" : " as " + type_name);
  auto why = [&](int err) -> std::string {
    if (err != EINVAL) return "";
    const char* loaded = libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(raw_));
    return "a " + std::string(libbpf_bpf_prog_type_str(bpf_program__type(raw_))) + " program loaded for " +
           (loaded != nullptr ? loaded : "another attach type") +
           " cannot attach as " + type_name + " (the kernel allows other attach types only for some program types, e.g. cgroup_skb)";
  };
  try {
    Napi::Value link = type_name.empty()
                           ? AttachWith(env, "attachCgroup", target, [&](bpf_program* p) { return bpf_program__attach_cgroup(p, fd); })
                           : LinkCreate(env, "attachCgroup", fd, type, 0, target, why);
    close(fd);
    return link;
  } catch (...) {
    close(fd);
    throw;
  }
}

// attachKprobe(func, retprobe, offset, cookie)
Napi::Value ProgramHandle::AttachKprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string func = GetString(env, info[0], "kernel function");
  bool retprobe = info[1].ToBoolean().Value();
  uint32_t offset = GetUint32(env, info[2], "offset");
  uint64_t cookie = GetOptionalUint64(env, info[3], "cookie");
  bpf_kprobe_opts opts{};
  opts.sz = sizeof(opts);
  opts.retprobe = retprobe;
  opts.offset = offset;
  opts.bpf_cookie = cookie;
  return AttachWith(env, "attachKprobe", std::string(retprobe ? "kretprobe " : "kprobe ") + func,
                    [&](bpf_program* p) { return bpf_program__attach_kprobe_opts(p, func.c_str(), &opts); });
}

// attachKsyscall(name, retprobe): a kprobe on the syscall's function, whatever its prefix.
Napi::Value ProgramHandle::AttachKsyscall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = GetString(env, info[0], "syscall name");
  bpf_ksyscall_opts opts{};
  opts.sz = sizeof(opts);
  opts.retprobe = info[1].ToBoolean().Value();
  return AttachWith(env, "attachKsyscall", std::string(opts.retprobe ? "kretsyscall " : "ksyscall ") + name,
                    [&](bpf_program* p) { return bpf_program__attach_ksyscall(p, name.c_str(), &opts); });
}

// attachTrace(): fentry / fexit / fmod_ret / tp_btf, to the target named in the SEC().
Napi::Value ProgramHandle::AttachTrace(const Napi::CallbackInfo& info) {
  return AttachWith(info.Env(), "attachTrace", "its BTF target", [](bpf_program* p) { return bpf_program__attach_trace(p); });
}

// attachLsm(): an LSM program (SEC("lsm/...")), to its hook.
Napi::Value ProgramHandle::AttachLsm(const Napi::CallbackInfo& info) {
  return AttachWith(info.Env(), "attachLsm", "its LSM hook", [](bpf_program* p) { return bpf_program__attach_lsm(p); });
}

// attachPerfEvent(type, config, period, frequency, pid, cpu): opens the perf event and
// attaches the program to it; the link owns the event.
Napi::Value ProgramHandle::AttachPerfEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = GetUint32(env, info[0], "type");
  attr.config = GetUint32(env, info[1], "config");
  uint32_t period = GetUint32(env, info[2], "samplePeriod");
  uint32_t frequency = GetUint32(env, info[3], "sampleFreq");
  if (frequency != 0) {
    attr.freq = 1;
    attr.sample_freq = frequency;
  } else {
    attr.sample_period = period;
  }
  int pid = info[4].As<Napi::Number>().Int32Value();
  int cpu = info[5].As<Napi::Number>().Int32Value();
  Require(env, "attachPerfEvent");
  int fd = static_cast<int>(syscall(__NR_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) ThrowBpfError(env, "attachPerfEvent", errno, "perf_event_open(type " + std::to_string(attr.type) + ", config " + std::to_string(attr.config) + ", cpu " + std::to_string(cpu) + ")");
  try {
    return AttachWith(env, "attachPerfEvent", "perf event on cpu " + std::to_string(cpu),
                      [&](bpf_program* p) { return bpf_program__attach_perf_event(p, fd); });
  } catch (...) {
    close(fd);
    throw;
  }
}

namespace {

std::vector<const char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<const char*> out;
  out.reserve(strings.size());
  for (const std::string& s : strings) out.push_back(s.c_str());
  return out;
}

// libbpf's cookie arrays are __u64 (unsigned long long), not uint64_t (unsigned long).
std::vector<__u64> ToU64(const std::vector<uint64_t>& values) { return std::vector<__u64>(values.begin(), values.end()); }

// A function list's target description: the pattern, or the first names and how many more.
std::string DescribeFunctions(const std::string& pattern, const std::vector<std::string>& names, size_t count) {
  if (!pattern.empty()) return pattern;
  if (!names.empty()) return names[0] + (names.size() > 1 ? " and " + std::to_string(names.size() - 1) + " more" : "");
  return std::to_string(count) + " offsets";
}

}  // namespace

// attachKprobeMulti(pattern | undefined, symbols | undefined, retprobe, cookies | undefined):
// one kprobe_multi link (fprobe) over every kernel function matching a glob, or a list.
Napi::Value ProgramHandle::AttachKprobeMulti(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string pattern = info[0].IsString() ? GetString(env, info[0], "pattern") : "";
  std::vector<std::string> symbols = GetOptionalStringList(env, info[1], "symbols");
  bool retprobe = info[2].ToBoolean().Value();
  std::vector<__u64> cookies = ToU64(GetOptionalUint64List(env, info[3], "cookies"));
  if (pattern.empty() == symbols.empty()) ThrowTypeError(env, "attachKprobeMulti takes a pattern or a non-empty list of symbols");
  if (!cookies.empty() && cookies.size() != symbols.size()) ThrowTypeError(env, "cookies must have one entry per symbol");
  std::vector<const char*> syms = CStrings(symbols);
  bpf_kprobe_multi_opts opts{};
  opts.sz = sizeof(opts);
  opts.retprobe = retprobe;
  if (!syms.empty()) {
    opts.syms = syms.data();
    opts.cnt = syms.size();
  }
  if (!cookies.empty()) opts.cookies = cookies.data();
  std::string target = std::string(retprobe ? "kretprobe.multi " : "kprobe.multi ") + DescribeFunctions(pattern, symbols, 0);
  return AttachWith(env, "attachKprobeMulti", target, [&](bpf_program* p) {
    return bpf_program__attach_kprobe_multi_opts(p, pattern.empty() ? nullptr : pattern.c_str(), &opts);
  });
}

// attachUprobeMulti(binary, pattern | undefined, symbols | undefined, offsets | undefined,
// pid, retprobe, cookies | undefined): one uprobe_multi link over many functions of a binary.
Napi::Value ProgramHandle::AttachUprobeMulti(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string binary = GetString(env, info[0], "binary");
  std::string pattern = info[1].IsString() ? GetString(env, info[1], "pattern") : "";
  std::vector<std::string> symbols = GetOptionalStringList(env, info[2], "symbols");
  std::vector<uint64_t> offsets = GetOptionalUint64List(env, info[3], "offsets");
  int pid = info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : -1;
  bool retprobe = info[5].ToBoolean().Value();
  std::vector<__u64> cookies = ToU64(GetOptionalUint64List(env, info[6], "cookies"));
  int given = !pattern.empty() + !symbols.empty() + !offsets.empty();
  if (given != 1) ThrowTypeError(env, "attachUprobeMulti takes one of a pattern, a list of symbols or a list of offsets");
  size_t count = symbols.empty() ? offsets.size() : symbols.size();
  if (!cookies.empty() && (!pattern.empty() || cookies.size() != count)) {
    ThrowTypeError(env, "cookies must have one entry per symbol or offset");
  }
#if LIBBPF_MAJOR_VERSION > 1 || (LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION >= 3)
  std::vector<const char*> syms = CStrings(symbols);
  std::vector<unsigned long> offs(offsets.begin(), offsets.end());
  bpf_uprobe_multi_opts opts{};
  opts.sz = sizeof(opts);
  opts.retprobe = retprobe;
  if (!syms.empty()) opts.syms = syms.data();
  if (!offs.empty()) opts.offsets = offs.data();
  if (!cookies.empty()) opts.cookies = cookies.data();
  opts.cnt = pattern.empty() ? count : 0;
  std::string target = std::string(retprobe ? "uretprobe.multi " : "uprobe.multi ") + binary + ":" + DescribeFunctions(pattern, symbols, offsets.size());
  return AttachWith(env, "attachUprobeMulti", target, [&](bpf_program* p) {
    return bpf_program__attach_uprobe_multi(p, pid, binary.c_str(), pattern.empty() ? nullptr : pattern.c_str(), &opts);
  });
#else
  Require(env, "attachUprobeMulti");
  ThrowNeedsLibbpf(env, "attachUprobeMulti", binary, "uprobe.multi links", "1.3");
#endif
}

// attachUsdt(binary, provider, name, pid, cookie): a USDT probe (a SystemTap SDT note in
// the binary), with its arguments readable in the program through bpf_usdt_arg().
Napi::Value ProgramHandle::AttachUsdt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string binary = GetString(env, info[0], "binary");
  std::string provider = GetString(env, info[1], "provider");
  std::string name = GetString(env, info[2], "name");
  int pid = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : -1;
  bpf_usdt_opts opts{};
  opts.sz = sizeof(opts);
  opts.usdt_cookie = GetOptionalUint64(env, info[4], "cookie");
  return AttachWith(env, "attachUsdt", "usdt " + binary + ":" + provider + ":" + name, [&](bpf_program* p) {
    return bpf_program__attach_usdt(p, pid, binary.c_str(), provider.c_str(), name.c_str(), &opts);
  });
}

// info() -> the kernel's view of the loaded program: id, tag, sizes, maps, run statistics.
Napi::Value ProgramHandle::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return ProgramInfoObject(env, LoadedFd(env, "program.info"), "program.info");
}

// testRun(data, repeat, ctx?) -> { retval, duration, data }: BPF_PROG_TEST_RUN, synchronous.
Napi::Value ProgramHandle::TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = LoadedFd(env, "testRun");
  Bytes data = info[0].IsUndefined() ? Bytes() : GetBytes(env, info[0], "data");
  uint32_t repeat = info[1].IsUndefined() ? 1 : GetUint32(env, info[1], "repeat");
  Bytes ctx = info[2].IsUndefined() ? Bytes() : GetBytes(env, info[2], "ctx");
  // The kernel takes 32-bit sizes: a larger buffer would be cut short silently.
  if (data.size > UINT32_MAX - 4096 || ctx.size > UINT32_MAX) ThrowTypeError(env, "testRun data and ctx must be under 4 GiB");
  // Room for programs that grow the packet (XDP may add up to a page of headroom).
  std::vector<uint8_t> in(data.data, data.data + data.size);
  std::vector<uint8_t> out(data.size + 4096);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  if (!in.empty()) {
    opts.data_in = in.data();
    opts.data_size_in = static_cast<uint32_t>(in.size());
    opts.data_out = out.data();
    opts.data_size_out = static_cast<uint32_t>(out.size());
  }
  if (ctx.size != 0) {
    opts.ctx_in = ctx.data;
    opts.ctx_size_in = static_cast<uint32_t>(ctx.size);
  }
  opts.repeat = repeat;
  // Signals wait for the run: the kernel ends a repeated run with EINTR as soon as a signal
  // is pending on this thread (a child's SIGCHLD, a profiler's SIGPROF), after some of the
  // runs have had their effects, so that error could be neither retried nor trusted.
  // Blocked here, a signal goes to another thread of the process or is handled once the
  // mask is back; SIGKILL still ends the process.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  int ret = bpf_prog_test_run_opts(fd, &opts);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  Check(env, ret, "testRun", "program '" + name_ + "'");
  Napi::Object result = Napi::Object::New(env);
  result.Set("retval", Napi::Number::New(env, opts.retval));
  result.Set("duration", Napi::Number::New(env, opts.duration));
  size_t out_size = in.empty() ? 0 : std::min<size_t>(opts.data_size_out, out.size());
  result.Set("data", Napi::Buffer<uint8_t>::Copy(env, out.data(), out_size));
  return result;
}

}  // namespace ebpf
