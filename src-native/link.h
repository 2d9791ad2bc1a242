// Link: one bpf_link (an attachment). It keeps its object alive (some links, USDT ones,
// use the object's memory), and the object destroys its links before it closes.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include "addon.h"

namespace ebpf {

class ObjectHandle;

class LinkHandle : public Napi::ObjectWrap<LinkHandle>, public Resource {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, bpf_link* link, Napi::Object owner);
  explicit LinkHandle(const Napi::CallbackInfo& info);
  ~LinkHandle() override;

  void Release() override;

 private:
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  bpf_link* link_ = nullptr;
  Addon* addon_ = nullptr;
  ObjectHandle* object_ = nullptr;
  Napi::ObjectReference owner_;
};

}  // namespace ebpf
