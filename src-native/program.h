// Program: one bpf_program of an object. Holds its object alive; every call checks that
// the object is still open.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <string>

#include "util/owned_handle.h"

namespace ebpf {

class ProgramHandle : public OwnedHandle<ProgramHandle, bpf_program> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, Napi::Value owner, bpf_program* prog);
  explicit ProgramHandle(const Napi::CallbackInfo& info);

 private:
  template <typename F>
  Napi::Value AttachWith(Napi::Env env, const std::string& operation, const std::string& target,
                         F attach);

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
  Napi::Value LinkCreate(Napi::Env env, const char* operation, int target_fd, bpf_attach_type type,
                         uint32_t flags, const std::string& target);

  std::string name_;
};

}  // namespace ebpf
