#include "addon.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <memory>
#include <string>

#include "btf.h"
#include "link.h"
#include "map.h"
#include "object.h"
#include "program.h"
#include "perf_buffer.h"
#include "ring_buffer.h"
#include "system.h"
#include "fd_watcher.h"
#include "util/args.h"
#include "util/errors.h"
#include "util/log.h"

namespace ebpf {

Addon::Addon(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  program_ctor = Napi::Persistent(ProgramHandle::Init(env));
  map_ctor = Napi::Persistent(MapHandle::Init(env));
  link_ctor = Napi::Persistent(LinkHandle::Init(env));
  DefineAddon(exports, {
      InstanceMethod("libbpfVersion", &Addon::LibbpfVersion),
      InstanceMethod("setErrorFactory", &Addon::SetErrorFactory),
      InstanceMethod("vmlinuxHeader", &Addon::VmlinuxHeader),
      InstanceMethod("numPossibleCpus", &Addon::NumPossibleCpus),
      InstanceMethod("btfTypes", &Addon::BtfTypes),
      InstanceMethod("openPinnedMap", &Addon::OpenPinnedMap),
      InstanceMethod("probeProgramType", &Addon::ProbeProgramType),
      InstanceMethod("probeMapType", &Addon::ProbeMapType),
      InstanceMethod("probeHelper", &Addon::ProbeHelper),
      InstanceMethod("probeFentry", &Addon::ProbeFentry),
      InstanceMethod("enableStats", &Addon::EnableStats),
      InstanceValue("listPrograms", Napi::Function::New(env, ListPrograms, "listPrograms")),
      InstanceValue("listMaps", Napi::Function::New(env, ListMaps, "listMaps")),
      InstanceValue("listLinks", Napi::Function::New(env, ListLinks, "listLinks")),
      InstanceValue("programInfoById", Napi::Function::New(env, ProgramInfoById, "programInfoById")),
      InstanceValue("openMapById", Napi::Function::New(env, OpenMapById, "openMapById")),
      InstanceValue("openLinkById", Napi::Function::New(env, OpenLinkById, "openLinkById")),
      InstanceValue("openPinnedLink", Napi::Function::New(env, OpenPinnedLink, "openPinnedLink")),
      InstanceValue("interfaceIndex", Napi::Function::New(env, InterfaceIndex, "interfaceIndex")),
      InstanceValue("ObjectHandle", ObjectHandle::Init(env)),
      InstanceValue("RingBufferHandle", RingBufferHandle::Init(env)),
      InstanceValue("PerfBufferHandle", PerfBufferHandle::Init(env)),
      InstanceValue("FdWatcher", FdWatcher::Init(env)),
  });
  env.AddCleanupHook(Cleanup, this);
}

Addon::~Addon() { ReleaseAll(); }

void Addon::Cleanup(Addon* self) { self->ReleaseAll(); }

void Addon::ReleaseAll() {
  if (released_) return;
  released_ = true;
  // Links first (they keep programs attached), then objects (programs and maps).
  std::set<Resource*> links;
  links.swap(links_);
  for (Resource* r : links) r->Release();
  std::set<Resource*> objects;
  objects.swap(objects_);
  for (Resource* r : objects) r->Release();
}

Napi::Value Addon::LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

Napi::Value Addon::SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) ThrowTypeError(info.Env(), "error factory must be a function");
  error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value Addon::NumPossibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Check(info.Env(), libbpf_num_possible_cpus(), "numPossibleCpus"));
}

namespace {

struct DumpOutput {
  std::string text;
  bool failed = false;
};

void AppendFormatted(std::string* out, const char* format, va_list args);

// Called by libbpf (C): nothing may throw through it; on failure the text is cut short and
// VmlinuxHeader reports it.
void AppendPrintf(void* ctx, const char* format, va_list args) noexcept {
  DumpOutput* dump = static_cast<DumpOutput*>(ctx);
  if (dump->failed) return;
  try {
    AppendFormatted(&dump->text, format, args);
  } catch (...) {
    dump->failed = true;
  }
}

void AppendFormatted(std::string* out, const char* format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n <= 0) return;
  size_t old = out->size();
  out->resize(old + static_cast<size_t>(n) + 1);
  vsnprintf(&(*out)[old], static_cast<size_t>(n) + 1, format, args);
  out->resize(old + static_cast<size_t>(n));
}

struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};
struct BtfDumpDeleter {
  void operator()(btf_dump* d) const { btf_dump__free(d); }
};

}  // namespace

namespace {

std::string BtfPath(Napi::Env env, const Napi::Value& value) {
  return value.IsUndefined() ? "/sys/kernel/btf/vmlinux" : GetString(env, value, "BTF path");
}

// The BTF file at `path`, parsed, or a BpfError with libbpf's reason.
std::unique_ptr<btf, BtfDeleter> ParseBtf(Napi::Env env, const std::string& path) {
  LogCapture log;
  return std::unique_ptr<btf, BtfDeleter>(
      CheckPtr(env, [&] { return btf__parse(path.c_str(), nullptr); }, "btf.parse", path, &log));
}

}  // namespace

namespace {

// libbpf's names for program and map types, read back into the enum (libbpf knows the
// names; we keep no table of them).
template <typename Enum>
Enum TypeByName(Napi::Env env, const std::string& name, const char* (*to_string)(Enum), const char* what) {
  for (int i = 0; i < 512; i++) {
    const char* s = to_string(static_cast<Enum>(i));
    if (s != nullptr && name == s) return static_cast<Enum>(i);
  }
  ThrowTypeError(env, std::string("unknown ") + what + " '" + name + "' (libbpf's names, e.g. " +
                          (std::string(what) == "program type" ? "'kprobe', 'xdp'" : "'hash', 'ringbuf'") + ")");
}

Napi::Value ProbeResult(Napi::Env env, int result, const char* operation) {
  if (result < 0 && result != -EOPNOTSUPP) Check(env, result, operation);
  return Napi::Boolean::New(env, result == 1);
}

}  // namespace

// probeProgramType(name) -> whether the kernel loads programs of that type
Napi::Value Addon::ProbeProgramType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto type = TypeByName<bpf_prog_type>(env, GetString(env, info[0], "program type"), libbpf_bpf_prog_type_str, "program type");
  return ProbeResult(env, libbpf_probe_bpf_prog_type(type, nullptr), "probe.programType");
}

// probeMapType(name) -> whether the kernel creates maps of that type
Napi::Value Addon::ProbeMapType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto type = TypeByName<bpf_map_type>(env, GetString(env, info[0], "map type"), libbpf_bpf_map_type_str, "map type");
  return ProbeResult(env, libbpf_probe_bpf_map_type(type, nullptr), "probe.mapType");
}

// probeHelper(programType, helperId) -> whether programs of that type may call the helper
Napi::Value Addon::ProbeHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto type = TypeByName<bpf_prog_type>(env, GetString(env, info[0], "program type"), libbpf_bpf_prog_type_str, "program type");
  uint32_t helper = GetUint32(env, info[1], "helper id");
  return ProbeResult(env, libbpf_probe_bpf_helper(type, static_cast<bpf_func_id>(helper), nullptr), "probe.helper");
}

// probeFentry(btfId) -> whether an fentry program attaches (BPF trampolines) to the kernel
// function with that BTF id: loads "return 0" as BPF_TRACE_FENTRY and opens its link.
Napi::Value Addon::ProbeFentry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t btf_id = GetUint32(env, info[0], "BTF id");
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  bpf_prog_load_opts opts{};
  opts.sz = sizeof(opts);
  opts.expected_attach_type = BPF_TRACE_FENTRY;
  opts.attach_btf_id = btf_id;
  int prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "ebpf_probe", "GPL", insns, 2, &opts);
  if (prog < 0) return Napi::Boolean::New(env, false);
  int link = bpf_link_create(prog, 0, BPF_TRACE_FENTRY, nullptr);
  bool ok = link >= 0;
  if (ok) close(link);
  close(prog);
  return Napi::Boolean::New(env, ok);
}

// enableStats() -> fd; run counts and times are collected while it is open.
Napi::Value Addon::EnableStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Number::New(env, Check(env, bpf_enable_stats(BPF_STATS_RUN_TIME), "enableStats"));
}

Napi::Value Addon::OpenPinnedMap(const Napi::CallbackInfo& info) {
  return MapHandle::OpenPinned(info.Env(), GetString(info.Env(), info[0], "pin path"));
}

// btfTypes(path?): the types of a BTF file (the kernel's by default), index = type id.
Napi::Value Addon::BtfTypes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return DescribeBtf(env, ParseBtf(env, BtfPath(env, info[0])).get());
}

// The C declarations of every type in a BTF file (the kernel's by default): what BPF
// programs include as vmlinux.h.
Napi::Value Addon::VmlinuxHeader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = BtfPath(env, info[0]);
  std::unique_ptr<btf, BtfDeleter> types = ParseBtf(env, path);
  LogCapture log;
  DumpOutput dump_output;
  std::string& out = dump_output.text;
  out =
      "/* Generated by the ebpf package from " + path + ". */\n"
      "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n"
      "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
      "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
      "#endif\n\n";
  std::unique_ptr<btf_dump, BtfDumpDeleter> dump(CheckPtr(
      env, [&] { return btf_dump__new(types.get(), AppendPrintf, &dump_output, nullptr); }, "btf.dump", path, &log));
  uint32_t count = btf__type_cnt(types.get());
  for (uint32_t id = 1; id < count; id++) {
    Check(env, btf_dump__dump_type(dump.get(), id), "btf.dump", "type id " + std::to_string(id), &log);
  }
  if (dump_output.failed) ThrowBpfError(env, "btf.dump", ENOMEM, path);
  out +=
      "\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n"
      "#endif /* __VMLINUX_H__ */\n";
  return Napi::String::New(env, out);
}

}  // namespace ebpf

using EbpfAddon = ebpf::Addon;
NODE_API_ADDON(EbpfAddon)
