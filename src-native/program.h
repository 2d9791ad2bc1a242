// Program: one bpf_program of an object. Holds its object alive; every call checks that
// the object is still open.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <functional>
#include <memory>
#include <string>

#include "link.h"
#include "util/log.h"
#include "util/owned_handle.h"

namespace ebpf {

class ProgramHandle : public OwnedHandle<ProgramHandle, bpf_program> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, Napi::Value owner, bpf_program* prog);
  explicit ProgramHandle(const Napi::CallbackInfo& info);

 private:
  // Attaches through a libbpf call returning a bpf_link, once the program is loaded.
  template <typename F>
  Napi::Value AttachWith(Napi::Env env, const std::string& operation, const std::string& target,
                         F attach) {
    LoadedFd(env, operation.c_str());
    LogCapture log;
    bpf_link* link = CheckPtr(env, [&] { return attach(raw_); }, operation, "program '" + name_ + "' to " + target, &log);
    return LinkHandle::New(env, link, owner_.Value());
  }
  // The loaded program's fd, or a BpfError (closed object, program not loaded).
  int LoadedFd(Napi::Env env, const char* operation);
  // A link for an attachment that is not a BPF link, or the error `err` (a negative errno).
  Napi::Value Attached(Napi::Env env, const char* operation, int err, std::unique_ptr<Attachment> attachment,
                       const std::string& target, const LogCapture& log);

  Napi::Value GetName(const Napi::CallbackInfo& info);
  Napi::Value GetSection(const Napi::CallbackInfo& info);
  Napi::Value GetType(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetAutoload(const Napi::CallbackInfo& info);
  void SetAutoload(const Napi::CallbackInfo& info, const Napi::Value& value);
  Napi::Value GetAutoattach(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value AttachTracepoint(const Napi::CallbackInfo& info);
  Napi::Value AttachRawTracepoint(const Napi::CallbackInfo& info);
  Napi::Value TestRun(const Napi::CallbackInfo& info);
  Napi::Value AttachXdp(const Napi::CallbackInfo& info);
  Napi::Value AttachTcx(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  Napi::Value AttachIter(const Napi::CallbackInfo& info);
  Napi::Value AttachCgroup(const Napi::CallbackInfo& info);
  Napi::Value AttachKprobe(const Napi::CallbackInfo& info);
  Napi::Value AttachKsyscall(const Napi::CallbackInfo& info);
  Napi::Value AttachTrace(const Napi::CallbackInfo& info);
  Napi::Value AttachLsm(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value AttachPerfEvent(const Napi::CallbackInfo& info);
  Napi::Value AttachKprobeMulti(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobeMulti(const Napi::CallbackInfo& info);
  Napi::Value AttachUsdt(const Napi::CallbackInfo& info);
  Napi::Value AttachSocketFilter(const Napi::CallbackInfo& info);
  Napi::Value AttachSkLookup(const Napi::CallbackInfo& info);
  Napi::Value AttachNetfilter(const Napi::CallbackInfo& info);
  Napi::Value AttachTcClsact(const Napi::CallbackInfo& info);
  Napi::Value AttachXdpReplace(const Napi::CallbackInfo& info);
  Napi::Value LinkCreate(Napi::Env env, const char* operation, int target_fd, bpf_attach_type type,
                         uint32_t flags, const std::string& target,
                         const std::function<std::string(int)>& why = nullptr);

  std::string name_;
};

}  // namespace ebpf
