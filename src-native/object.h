// BpfObject: one bpf_object, opened (parsed) at construction, loaded by an AsyncWorker.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "addon.h"

namespace ebpf {

class LoadWorker;

class ObjectHandle : public Napi::ObjectWrap<ObjectHandle>, public Resource {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ObjectHandle(const Napi::CallbackInfo& info);
  ~ObjectHandle() override;

  // The open object, or a BpfError when it is closed or busy loading.
  bpf_object* Require(Napi::Env env, const std::string& operation);
  bool IsLoaded() const { return loaded_; }
  // Whether Require would pass (open and not loading), without building an error: for the
  // fast paths, which call Require for the error only when this is false.
  bool Usable() const { return obj_ != nullptr && !busy_; }
  const std::string& name() const { return name_; }

  void Release() override;

  // ArrayBuffers over the object's mmapped global sections: detached before the object
  // closes (libbpf unmaps that memory), so JavaScript can never read freed memory.
  void TrackDataBuffer(Napi::Env env, napi_value array_buffer);

  // Links of this object: destroyed before the object closes.
  void TrackLink(Resource* link) { links_.insert(link); }
  void UntrackLink(Resource* link) { links_.erase(link); }

 private:
  friend class LoadWorker;
  // A load in flight will not touch this object when it completes.
  void OrphanLoad();

  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  Napi::Value Btf(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetName(const Napi::CallbackInfo& info);

  // Detaches every ArrayBuffer handed out over the global sections. load() calls it too:
  // libbpf remaps that memory then, and unmaps it for sections the kernel cannot mmap
  // (e.g. a .rodata of static variables only), so no view may outlive the old mapping.
  void DetachDataBuffers();

  bpf_object* obj_ = nullptr;
  std::vector<uint8_t> image_;  // kept for bpf_object__open_mem
  std::string name_;
  Addon* addon_ = nullptr;
  bool loaded_ = false;
  bool close_pending_ = false;
  bool busy_ = false;                    // load() in flight: refuse other calls
  LoadWorker* load_worker_ = nullptr;    // that load, until it completes or is orphaned
  std::atomic<bool> executing_{false};   // the verifier is running on a worker thread
  std::set<Resource*> links_;
  std::vector<napi_ref> data_buffers_;
  napi_env env_ = nullptr;
};

}  // namespace ebpf
