// What ProgramHandle and MapHandle share: a handle on one part (bpf_program, bpf_map) of an
// object, created by the object only, keeping the object alive and checking on every call
// that it is still open.
#pragma once

#include <napi.h>

#include <string>

#include "../object.h"
#include "errors.h"
#include "type_tags.h"

namespace ebpf {

template <typename Derived, typename Raw>
class OwnedHandle : public Napi::ObjectWrap<Derived> {
 public:
  static Napi::Object Create(Napi::FunctionReference& ctor, Napi::Value owner, Raw* raw) {
    return ctor.New({owner, Napi::External<Raw>::New(owner.Env(), raw)});
  }

 protected:
  // (owner ObjectHandle, External<Raw>); with `standalone`, also (null, External<...>),
  // which leaves object_ and raw_ null for the derived class to fill in.
  OwnedHandle(const Napi::CallbackInfo& info, const char* what, Kind kind, bool standalone = false)
      : Napi::ObjectWrap<Derived>(info) {
    Napi::Env env = info.Env();
    bool owned = IsObjectHandle(env, info[0]);
    if (info.Length() != 2 || !info[1].IsExternal() || !(owned || (standalone && info[0].IsNull()))) {
      ThrowTypeError(env, std::string(what) + " is created by its object");
    }
    if (owned) {
      object_ = ObjectHandle::Unwrap(info[0].As<Napi::Object>());
      owner_ = Napi::Persistent(info[0].As<Napi::Object>());
      raw_ = info[1].As<Napi::External<Raw>>().Data();
    }
    Tag(env, info.This(), kind);
  }

  // The part, or a BpfError when its object is closed or busy.
  Raw* Require(Napi::Env env, const std::string& operation) {
    object_->Require(env, operation);
    return raw_;
  }

  Napi::ObjectReference owner_;
  ObjectHandle* object_ = nullptr;
  Raw* raw_ = nullptr;
};

}  // namespace ebpf
