#include "program.h"

#include <bpf/bpf.h>

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <vector>

#include "addon.h"
#include "link.h"
#include "object.h"
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

template <typename F>
Napi::Value ProgramHandle::AttachWith(Napi::Env env, const std::string& operation,
                                      const std::string& target, F attach) {
  bpf_program* prog = Require(env, operation);
  if (bpf_program__fd(prog) < 0) {
    ThrowBpfError(env, operation, EBADF, "program '" + name_ + "' is not loaded; await load() first");
  }
  LogCapture log;
  bpf_link* link = CheckPtr(env, [&] { return attach(prog); }, operation, "program '" + name_ + "' to " + target, &log);
  return LinkHandle::New(env, link, owner_.Value());
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
// attach helpers do not take), held as a bare fd.
Napi::Value ProgramHandle::LinkCreate(Napi::Env env, const char* operation, int target_fd, bpf_attach_type type,
                                      uint32_t flags, const std::string& target) {
  bpf_program* prog = Require(env, operation);
  int prog_fd = bpf_program__fd(prog);
  if (prog_fd < 0) ThrowBpfError(env, operation, EBADF, "program '" + name_ + "' is not loaded; await load() first");
  bpf_link_create_opts opts{};
  opts.sz = sizeof(opts);
  opts.flags = flags;
  int fd = bpf_link_create(prog_fd, target_fd, type, &opts);
  if (fd < 0) ThrowBpfError(env, operation, -fd, "program '" + name_ + "' to " + target);
  return LinkHandle::NewFromFd(env, fd, owner_.Value());
}

// attachXdp(ifindex, flags): XDP_FLAGS_SKB_MODE (2), XDP_FLAGS_DRV_MODE (4),
// XDP_FLAGS_HW_MODE (8), or 0 for the best the driver has.
Napi::Value ProgramHandle::AttachXdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = GetUint32(env, info[0], "ifindex");
  uint32_t flags = GetUint32(env, info[1], "flags");
  return LinkCreate(env, "attachXdp", static_cast<int>(ifindex), BPF_XDP, flags, "XDP of ifindex " + std::to_string(ifindex));
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

// attachCgroup(path): cgroup programs on the cgroup v2 directory at `path`.
Napi::Value ProgramHandle::AttachCgroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = GetString(env, info[0], "cgroup path");
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowBpfError(env, "attachCgroup", errno, path);
  try {
    Napi::Value link = AttachWith(env, "attachCgroup", "cgroup " + path, [&](bpf_program* p) { return bpf_program__attach_cgroup(p, fd); });
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

// info() -> the kernel's view of the loaded program: id, tag, sizes, run statistics.
Napi::Value ProgramHandle::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = bpf_program__fd(Require(env, "program.info"));
  if (fd < 0) ThrowBpfError(env, "program.info", EBADF, "program '" + name_ + "' is not loaded");
  bpf_prog_info prog_info{};
  __u32 len = sizeof(prog_info);
  Check(env, bpf_obj_get_info_by_fd(fd, &prog_info, &len), "program.info", "program '" + name_ + "'");
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", prog_info.tag[i]);
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", prog_info.id);
  out.Set("tag", tag);
  out.Set("jitedSize", prog_info.jited_prog_len);
  out.Set("xlatedSize", prog_info.xlated_prog_len);
  out.Set("runCount", Napi::BigInt::New(env, static_cast<uint64_t>(prog_info.run_cnt)));
  out.Set("runTimeNs", Napi::BigInt::New(env, static_cast<uint64_t>(prog_info.run_time_ns)));
  return out;
}

// testRun(data, repeat, ctx?) -> { retval, duration, data }: BPF_PROG_TEST_RUN, synchronous.
Napi::Value ProgramHandle::TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_program* prog = Require(env, "testRun");
  int fd = bpf_program__fd(prog);
  if (fd < 0) ThrowBpfError(env, "testRun", EBADF, "program '" + name_ + "' is not loaded; await load() first");
  Bytes data = info[0].IsUndefined() ? Bytes() : GetBytes(env, info[0], "data");
  uint32_t repeat = info[1].IsUndefined() ? 1 : GetUint32(env, info[1], "repeat");
  Bytes ctx = info[2].IsUndefined() ? Bytes() : GetBytes(env, info[2], "ctx");
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
  Check(env, bpf_prog_test_run_opts(fd, &opts), "testRun", "program '" + name_ + "'");
  Napi::Object result = Napi::Object::New(env);
  result.Set("retval", Napi::Number::New(env, opts.retval));
  result.Set("duration", Napi::Number::New(env, opts.duration));
  size_t out_size = in.empty() ? 0 : std::min<size_t>(opts.data_size_out, out.size());
  result.Set("data", Napi::Buffer<uint8_t>::Copy(env, out.data(), out_size));
  return result;
}

}  // namespace ebpf
