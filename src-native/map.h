// BpfMap (raw level): one bpf_map of an object. Keys and values are byte ranges whose
// sizes are checked against the map's definition before any syscall.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <string>

#include "util/owned_handle.h"

namespace ebpf {

class MapHandle : public OwnedHandle<MapHandle, bpf_map> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, Napi::Value owner, bpf_map* map);
  explicit MapHandle(const Napi::CallbackInfo& info);

  using OwnedHandle::Require;
  // The map, and the map must exist in the kernel (the object is loaded).
  int RequireFd(Napi::Env env, const std::string& operation);
  const std::string& name() const { return name_; }

 private:
  size_t ValueBytes(Napi::Env env, bpf_map* map) const;

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
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value NextKey(const Napi::CallbackInfo& info);
  Napi::Value GetBtfKeyTypeId(const Napi::CallbackInfo& info);
  Napi::Value GetBtfValueTypeId(const Napi::CallbackInfo& info);
  Napi::Value ReadData(const Napi::CallbackInfo& info);
  Napi::Value LookupBatch(const Napi::CallbackInfo& info);
  Napi::Value UpdateBatch(const Napi::CallbackInfo& info);
  Napi::Value DeleteBatch(const Napi::CallbackInfo& info);
  Napi::Value Push(const Napi::CallbackInfo& info);
  Napi::Value Pop(const Napi::CallbackInfo& info);
  Napi::Value Peek(const Napi::CallbackInfo& info);
  Napi::Value Freeze(const Napi::CallbackInfo& info);
  Napi::Value KeylessLookup(const Napi::CallbackInfo& info, bool remove);
  Napi::Value WriteData(const Napi::CallbackInfo& info);
  uint8_t* DataRange(Napi::Env env, const std::string& operation, size_t offset, size_t size);

  std::string name_;
};

}  // namespace ebpf
