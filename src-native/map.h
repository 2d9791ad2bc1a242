// BpfMap (raw level): one bpf_map of an object. Keys and values are byte ranges whose
// sizes are checked against the map's definition before any syscall.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <bpf/bpf.h>

#include <memory>
#include <string>

#include "util/owned_handle.h"

namespace ebpf {

class MapHandle : public OwnedHandle<MapHandle, bpf_map> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, Napi::Value owner, bpf_map* map);
  explicit MapHandle(const Napi::CallbackInfo& info);
  ~MapHandle() override;

  // A map pinned in bpffs, outside any object.
  static Napi::Value OpenPinned(Napi::Env env, const std::string& path);
  // A map by an fd of it that this handle then owns (BpfMap.fromId).
  static Napi::Value FromFd(Napi::Env env, int fd, const std::string& operation, const std::string& detail);

  // The map of an object (or a BpfError when the object is closed or busy), or nullptr for
  // a map opened from a pin (a BpfError once closed).
  bpf_map* Require(Napi::Env env, const std::string& operation);
  // The map, and the map must exist in the kernel (the object is loaded).
  int RequireFd(Napi::Env env, const std::string& operation);
  const std::string& name() const { return name_; }
  // Its type, for maps of an object and maps opened from a pin alike.
  bpf_map_type Type() const;

 private:
  struct Standalone {
    int fd = -1;
    bpf_map_info info{};
  };

  size_t ValueBytes(Napi::Env env) const;
  uint32_t KeySize() const;
  uint32_t ValueSize() const;
  void CloseStandalone();
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Unpin(const Napi::CallbackInfo& info);
  Napi::Value GetPinPath(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);

  Napi::Value GetName(const Napi::CallbackInfo& info);
  Napi::Value GetType(const Napi::CallbackInfo& info);
  Napi::Value GetKeySize(const Napi::CallbackInfo& info);
  Napi::Value GetValueSize(const Napi::CallbackInfo& info);
  Napi::Value GetValueBytes(const Napi::CallbackInfo& info);
  Napi::Value GetMaxEntries(const Napi::CallbackInfo& info);
  void SetMaxEntries(const Napi::CallbackInfo& info, const Napi::Value& value);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetPerCpu(const Napi::CallbackInfo& info);
  Napi::Value Lookup(const Napi::CallbackInfo& info);
  Napi::Value LookupInto(const Napi::CallbackInfo& info);
  Napi::Value BindBuffers(const Napi::CallbackInfo& info);
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value NextKey(const Napi::CallbackInfo& info);
  Napi::Value GetBtfKeyTypeId(const Napi::CallbackInfo& info);
  Napi::Value GetBtfValueTypeId(const Napi::CallbackInfo& info);
  Napi::Value DataBuffer(const Napi::CallbackInfo& info);
  struct BatchTarget;
  template <typename Target>
  __u32 LookupBatchCall(const Napi::CallbackInfo& info, Target target, bool* done);
  Napi::Value LookupBatch(const Napi::CallbackInfo& info);
  Napi::Value LookupBatchInto(const Napi::CallbackInfo& info);
  Napi::Value UpdateBatch(const Napi::CallbackInfo& info);
  Napi::Value DeleteBatch(const Napi::CallbackInfo& info);
  Napi::Value Push(const Napi::CallbackInfo& info);
  Napi::Value Pop(const Napi::CallbackInfo& info);
  Napi::Value Peek(const Napi::CallbackInfo& info);
  Napi::Value Freeze(const Napi::CallbackInfo& info);
  Napi::Value KeylessLookup(const Napi::CallbackInfo& info, bool remove);
  Napi::Value WriteData(const Napi::CallbackInfo& info);
  uint8_t* DataRange(Napi::Env env, const std::string& operation, size_t offset, size_t size);

  // The map's fd when every check of RequireFd passes, else -1 (RequireFd then builds the
  // error): no strings on the fast path.
  int UsableFd() const;

  // What the functions made by bindBuffers reach through their `data`: the handle (null once
  // it is gone or has bound other buffers) and the bound memory. Shared by the handle and a
  // finalizer of each function, so whichever goes first leaves the other valid.
  struct Bound {
    MapHandle* handle = nullptr;
    uint8_t* key = nullptr;
    uint8_t* value = nullptr;
  };
  static napi_value BoundLookup(napi_env env, napi_callback_info info);
  static napi_value BoundUpdate(napi_env env, napi_callback_info info);
  static napi_value BoundFailed(napi_env env, const Bound* bound, const char* operation, int err);

  // The view's own key and value buffers, bound once (bindBuffers): the one-at-a-time
  // operations on them take no arguments to check. References keep them alive.
  Napi::Reference<Napi::Value> bound_key_ref_;
  Napi::Reference<Napi::Value> bound_value_ref_;
  std::shared_ptr<Bound> bound_;

  std::string name_;
  std::unique_ptr<Standalone> standalone_;
};

}  // namespace ebpf
