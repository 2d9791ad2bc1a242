// Per-environment state of the addon. Node loads the addon once per environment (the main
// thread, each worker_thread, each jest module registry), so nothing lives in globals but
// the libbpf print hook, which routes to thread-local captures.
#pragma once

#include <napi.h>

#include <set>

namespace ebpf {

// A native resource that the environment's cleanup hook frees if the user did not.
class Resource {
 public:
  virtual ~Resource() = default;
  // Free the kernel resource without calling into JavaScript.
  virtual void Release() = 0;
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  static Addon* Get(Napi::Env env) { return env.GetInstanceData<Addon>(); }

  Napi::FunctionReference error_factory;
  Napi::FunctionReference program_ctor;
  Napi::FunctionReference map_ctor;
  Napi::FunctionReference link_ctor;

  // Links are released before objects when the environment goes away.
  void TrackLink(Resource* r) { links_.insert(r); }
  void UntrackLink(Resource* r) { links_.erase(r); }
  void TrackObject(Resource* r) { objects_.insert(r); }
  void UntrackObject(Resource* r) { objects_.erase(r); }

 private:
  static void Cleanup(Addon* self);
  void ReleaseAll();

  Napi::Value LibbpfVersion(const Napi::CallbackInfo& info);
  Napi::Value SetErrorFactory(const Napi::CallbackInfo& info);
  Napi::Value VmlinuxHeader(const Napi::CallbackInfo& info);
  Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info);
  Napi::Value BtfTypes(const Napi::CallbackInfo& info);
  Napi::Value OpenPinnedMap(const Napi::CallbackInfo& info);
  Napi::Value ProbeProgramType(const Napi::CallbackInfo& info);
  Napi::Value ProbeMapType(const Napi::CallbackInfo& info);
  Napi::Value ProbeHelper(const Napi::CallbackInfo& info);
  Napi::Value ProbeFentry(const Napi::CallbackInfo& info);
  Napi::Value EnableStats(const Napi::CallbackInfo& info);

  std::set<Resource*> links_;
  std::set<Resource*> objects_;
  bool released_ = false;
};

}  // namespace ebpf
