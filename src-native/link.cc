#include "link.h"

#include <cerrno>

#include "object.h"
#include "util/errors.h"
#include "util/type_tags.h"

namespace ebpf {

Napi::Function LinkHandle::Init(Napi::Env env) {
  return DefineClass(env, "LinkHandle", {
      InstanceMethod("destroy", &LinkHandle::Destroy),
      InstanceAccessor("fd", &LinkHandle::GetFd, nullptr),
      InstanceAccessor("closed", &LinkHandle::GetClosed, nullptr),
  });
}

Napi::Object LinkHandle::New(Napi::Env env, bpf_link* link, Napi::Object owner) {
  Addon* addon = Addon::Get(env);
  // Owned from here on: if construction throws, the link is destroyed.
  Napi::Object handle;
  try {
    handle = addon->link_ctor.New({owner, Napi::External<bpf_link>::New(env, link)});
  } catch (...) {
    bpf_link__destroy(link);
    throw;
  }
  return handle;
}

// Only constructed by LinkHandle::New: (owner ObjectHandle, External<bpf_link>).
LinkHandle::LinkHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LinkHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !IsObjectHandle(env, info[0]) || !info[1].IsExternal()) {
    ThrowTypeError(env, "LinkHandle is created by attach()");
  }
  link_ = info[1].As<Napi::External<bpf_link>>().Data();
  object_ = ObjectHandle::Unwrap(info[0].As<Napi::Object>());
  owner_ = Napi::Persistent(info[0].As<Napi::Object>());
  object_->TrackLink(this);
  Tag(env, info.This(), Kind::Link);
  addon_ = Addon::Get(env);
  addon_->TrackLink(this);
}

LinkHandle::~LinkHandle() { Release(); }

void LinkHandle::Release() {
  if (link_ != nullptr) {
    bpf_link__destroy(link_);
    link_ = nullptr;
  }
  if (object_ != nullptr) {
    object_->UntrackLink(this);
    object_ = nullptr;
  }
  if (addon_ != nullptr) {
    addon_->UntrackLink(this);
    addon_ = nullptr;
  }
}

Napi::Value LinkHandle::Destroy(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value LinkHandle::GetFd(const Napi::CallbackInfo& info) {
  if (link_ == nullptr) ThrowBpfError(info.Env(), "link.fd", EBADF, "the link is closed");
  return Napi::Number::New(info.Env(), bpf_link__fd(link_));
}

Napi::Value LinkHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), link_ == nullptr);
}

}  // namespace ebpf
