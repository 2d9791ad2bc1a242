// Link: one bpf_link (an attachment). Independent of its object's lifetime in the kernel;
// the TypeScript layer closes it with its object.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include "addon.h"

namespace ebpf {

class LinkHandle : public Napi::ObjectWrap<LinkHandle>, public Resource {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, bpf_link* link);
  explicit LinkHandle(const Napi::CallbackInfo& info);
  ~LinkHandle() override;

  void Release() override;

 private:
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  bpf_link* link_ = nullptr;
  Addon* addon_ = nullptr;
};

}  // namespace ebpf
