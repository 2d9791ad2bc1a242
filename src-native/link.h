// Link: one bpf_link (an attachment). It keeps its object alive (some links, USDT ones,
// use the object's memory), and the object destroys its links before it closes.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <memory>

#include "addon.h"
#include "attachment.h"

namespace ebpf {

class ObjectHandle;

class LinkHandle : public Napi::ObjectWrap<LinkHandle>, public Resource {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, bpf_link* link, Napi::Object owner);
  // A link the kernel gave as a bare fd (BPF_LINK_CREATE made by us, e.g. XDP with mode
  // flags, tcx with a direction): closing the fd detaches it. With a null owner, a link
  // opened by id (Link.fromId): closing it drops this process's reference only.
  static Napi::Object NewFromFd(Napi::Env env, int fd, Napi::Value owner);
  // An attachment that is not a BPF link (socket filter, clsact, XDP through netlink):
  // releasing the handle detaches it.
  static Napi::Object NewFromAttachment(Napi::Env env, std::unique_ptr<Attachment> attachment, Napi::Object owner);
  explicit LinkHandle(const Napi::CallbackInfo& info);
  ~LinkHandle() override;

  void Release() override;

 private:
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Unpin(const Napi::CallbackInfo& info);
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value ForceDetach(const Napi::CallbackInfo& info);
  Napi::Value ReadIter(const Napi::CallbackInfo& info);
  Napi::Value OpenIter(const Napi::CallbackInfo& info);
  int RequireFd(Napi::Env env, const char* operation);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  bpf_link* link_ = nullptr;
  int fd_ = -1;  // a bare link fd, when there is no bpf_link
  std::unique_ptr<Attachment> attachment_;  // or an attachment that is not a link
  Addon* addon_ = nullptr;
  ObjectHandle* object_ = nullptr;
  Napi::ObjectReference owner_;
};

}  // namespace ebpf
