#include "map.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>
#include <vector>

#include "addon.h"
#include "object.h"
#include "system.h"
#include "util/args.h"
#include "util/log.h"
#include "util/errors.h"
#include "util/type_tags.h"

namespace ebpf {
namespace {

bpf_map_batch_opts BatchOpts() {
  bpf_map_batch_opts opts{};
  opts.sz = sizeof(opts);
  return opts;
}

bool IsPerCpu(bpf_map_type type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

}  // namespace

Napi::Function MapHandle::Init(Napi::Env env) {
  return DefineClass(env, "MapHandle", {
      InstanceAccessor("name", &MapHandle::GetName, nullptr),
      InstanceAccessor("type", &MapHandle::GetType, nullptr),
      InstanceAccessor("keySize", &MapHandle::GetKeySize, nullptr),
      InstanceAccessor("valueSize", &MapHandle::GetValueSize, nullptr),
      InstanceAccessor("valueBytes", &MapHandle::GetValueBytes, nullptr),
      InstanceAccessor("maxEntries", &MapHandle::GetMaxEntries, &MapHandle::SetMaxEntries),
      InstanceAccessor("fd", &MapHandle::GetFd, nullptr),
      InstanceAccessor("perCpu", &MapHandle::GetPerCpu, nullptr),
      InstanceMethod("lookup", &MapHandle::Lookup),
      InstanceMethod("lookupInto", &MapHandle::LookupInto),
      InstanceMethod("bindBuffers", &MapHandle::BindBuffers),
      InstanceMethod("update", &MapHandle::Update),
      InstanceMethod("delete", &MapHandle::Delete),
      InstanceMethod("nextKey", &MapHandle::NextKey),
      InstanceAccessor("btfKeyTypeId", &MapHandle::GetBtfKeyTypeId, nullptr),
      InstanceAccessor("btfValueTypeId", &MapHandle::GetBtfValueTypeId, nullptr),
      InstanceMethod("dataBuffer", &MapHandle::DataBuffer),
      InstanceMethod("lookupBatch", &MapHandle::LookupBatch),
      InstanceMethod("lookupBatchInto", &MapHandle::LookupBatchInto),
      InstanceMethod("updateBatch", &MapHandle::UpdateBatch),
      InstanceMethod("deleteBatch", &MapHandle::DeleteBatch),
      InstanceMethod("push", &MapHandle::Push),
      InstanceMethod("pop", &MapHandle::Pop),
      InstanceMethod("peek", &MapHandle::Peek),
      InstanceMethod("freeze", &MapHandle::Freeze),
      InstanceMethod("pin", &MapHandle::Pin),
      InstanceMethod("unpin", &MapHandle::Unpin),
      InstanceAccessor("pinPath", &MapHandle::GetPinPath, nullptr),
      InstanceMethod("close", &MapHandle::Close),
      InstanceMethod("info", &MapHandle::Info),
      InstanceMethod("writeData", &MapHandle::WriteData),
  });
}

Napi::Object MapHandle::New(Napi::Env env, Napi::Value owner, bpf_map* map) {
  return Create(Addon::Get(env)->map_ctor, owner, map);
}

// Only constructed by ObjectHandle::Maps.
// Constructed by ObjectHandle::Maps, or by OpenPinned (owner null, External<Standalone>).
MapHandle::MapHandle(const Napi::CallbackInfo& info) : OwnedHandle(info, "MapHandle", Kind::Map, true) {
  if (raw_ != nullptr) {
    name_ = bpf_map__name(raw_);
  } else {
    standalone_.reset(info[1].As<Napi::External<Standalone>>().Data());
    name_ = standalone_->info.name;
  }
}

MapHandle::~MapHandle() {
  if (bound_) bound_->handle = nullptr;
  CloseStandalone();
}

void MapHandle::CloseStandalone() {
  if (standalone_ && standalone_->fd >= 0) {
    close(standalone_->fd);
    standalone_->fd = -1;
  }
}

// openPinned(path) -> MapHandle of the map pinned at `path` (no object).
Napi::Value MapHandle::OpenPinned(Napi::Env env, const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowBpfError(env, "openPinned", -fd, path);
  return FromFd(env, fd, "openPinned", path + " (is it a map?)");
}

// A MapHandle owning `fd` (closed here if it is not a map).
Napi::Value MapHandle::FromFd(Napi::Env env, int fd, const std::string& operation, const std::string& detail) {
  std::unique_ptr<Standalone> standalone(new Standalone());
  standalone->fd = fd;
  __u32 len = sizeof(standalone->info);
  int err = bpf_obj_get_info_by_fd(fd, &standalone->info, &len);
  if (err < 0) {
    close(fd);
    ThrowBpfError(env, operation, -err, detail);
  }
  Napi::Object handle = Addon::Get(env)->map_ctor.New({env.Null(), Napi::External<Standalone>::New(env, standalone.get())});
  standalone.release();  // owned by the handle now
  return handle;
}

// pin(path): the map stays in the kernel under `path` (bpffs) after every fd is closed.
Napi::Value MapHandle::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = GetString(env, info[0], "pin path");
  bpf_map* map = Require(env, "map.pin");
  LogCapture log;
  if (map != nullptr) {
    Check(env, bpf_map__pin(map, path.c_str()), "map.pin", path, &log);
  } else {
    Check(env, bpf_obj_pin(standalone_->fd, path.c_str()), "map.pin", path);
  }
  return env.Undefined();
}

// unpin(path?): removes the pin (the map's own pin path when none is given); pin() may then
// pin the map somewhere else.
Napi::Value MapHandle::Unpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = Require(env, "map.unpin");
  std::string path = info[0].IsUndefined() ? "" : GetString(env, info[0], "pin path");
  if (!path.empty()) CheckOnBpffs(env, path, "map.unpin");
  LogCapture log;
  if (map != nullptr) {
    Check(env, bpf_map__unpin(map, path.empty() ? nullptr : path.c_str()), "map.unpin", path, &log);
    // libbpf keeps the old path after an unpin, and then refuses a pin() anywhere else: the
    // map is no longer pinned, so it has no pin path (pinPath is null again).
    Check(env, bpf_map__set_pin_path(map, nullptr), "map.unpin", path);
  } else {
    if (path.empty()) ThrowTypeError(env, "unpin() of a map opened from a pin needs the path");
    if (unlink(path.c_str()) < 0) ThrowBpfError(env, "map.unpin", errno, path);
  }
  return env.Undefined();
}

// pinPath: where libbpf pinned the map (LIBBPF_PIN_BY_NAME or pin()), or null.
Napi::Value MapHandle::GetPinPath(const Napi::CallbackInfo& info) {
  bpf_map* map = Require(info.Env(), "map.pinPath");
  const char* path = map != nullptr ? bpf_map__pin_path(map) : nullptr;
  return path != nullptr ? Napi::Value(Napi::String::New(info.Env(), path)) : info.Env().Null();
}

Napi::Value MapHandle::Close(const Napi::CallbackInfo& info) {
  CloseStandalone();
  return info.Env().Undefined();
}

// info() -> the kernel's view of the map: id, name, type, sizes, flags (see system.cc).
Napi::Value MapHandle::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return MapInfoObject(env, RequireFd(env, "map.info"), "map.info");
}

bpf_map* MapHandle::Require(Napi::Env env, const std::string& operation) {
  if (!standalone_) return OwnedHandle::Require(env, operation);
  if (standalone_->fd < 0) ThrowBpfError(env, operation, EBADF, "map '" + name_ + "' is closed");
  return nullptr;
}

int MapHandle::RequireFd(Napi::Env env, const std::string& operation) {
  bpf_map* map = Require(env, operation);
  int fd = map != nullptr ? bpf_map__fd(map) : standalone_->fd;
  if (fd < 0) ThrowBpfError(env, operation, EBADF, "map '" + name_ + "' is not created yet; await load() first");
  return fd;
}

// Bytes of one value as the syscall sees it: per-CPU maps hold one 8-byte aligned slot
// per possible CPU.
size_t MapHandle::ValueBytes(Napi::Env env) const {
  size_t size = ValueSize();
  if (!IsPerCpu(Type())) return size;
  int cpus = Check(env, libbpf_num_possible_cpus(), "map.valueSize",
                   "cannot read the possible CPUs (/sys/devices/system/cpu/possible)");
  return ((size + 7) / 8) * 8 * static_cast<size_t>(cpus);
}

bpf_map_type MapHandle::Type() const {
  return standalone_ ? static_cast<bpf_map_type>(standalone_->info.type) : bpf_map__type(raw_);
}

uint32_t MapHandle::KeySize() const { return standalone_ ? standalone_->info.key_size : bpf_map__key_size(raw_); }

uint32_t MapHandle::ValueSize() const { return standalone_ ? standalone_->info.value_size : bpf_map__value_size(raw_); }

Napi::Value MapHandle::GetName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), name_);
}

Napi::Value MapHandle::GetType(const Napi::CallbackInfo& info) {
  Require(info.Env(), "map.type");
  const char* s = libbpf_bpf_map_type_str(Type());
  return Napi::String::New(info.Env(), s != nullptr ? s : "unknown");
}

Napi::Value MapHandle::GetKeySize(const Napi::CallbackInfo& info) {
  Require(info.Env(), "map.keySize");
  return Napi::Number::New(info.Env(), KeySize());
}

Napi::Value MapHandle::GetValueSize(const Napi::CallbackInfo& info) {
  Require(info.Env(), "map.valueSize");
  return Napi::Number::New(info.Env(), ValueSize());
}

Napi::Value MapHandle::GetValueBytes(const Napi::CallbackInfo& info) {
  Require(info.Env(), "map.valueSize");
  return Napi::Number::New(info.Env(), static_cast<double>(ValueBytes(info.Env())));
}

Napi::Value MapHandle::GetMaxEntries(const Napi::CallbackInfo& info) {
  Require(info.Env(), "map.maxEntries");
  return Napi::Number::New(info.Env(), standalone_ ? standalone_->info.max_entries : bpf_map__max_entries(raw_));
}

void MapHandle::SetMaxEntries(const Napi::CallbackInfo& info, const Napi::Value& value) {
  Napi::Env env = info.Env();
  bpf_map* map = Require(env, "map.maxEntries");
  if (map == nullptr) ThrowBpfError(env, "map.maxEntries", EBUSY, "map '" + name_ + "' exists in the kernel already");
  uint32_t n = GetUint32(env, value, "maxEntries");
  // A global section (.data, .rodata, .bss...) is one element over memory libbpf mapped at
  // open; libbpf sizes its munmap at close from max_entries, so a change there unmapped
  // memory that was not its own (found by the API fuzzer: a crash at a later allocation).
  size_t section_size = 0;
  if (bpf_map__initial_value(map, &section_size) != nullptr && n != bpf_map__max_entries(map)) {
    ThrowBpfError(env, "map.maxEntries", EINVAL,
                  "map '" + name_ + "' is a global data section: it holds one element, its maxEntries cannot change");
  }
  Check(env, bpf_map__set_max_entries(map, n), "map.maxEntries", "map '" + name_ + "'");
}

Napi::Value MapHandle::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), RequireFd(info.Env(), "map.fd"));
}

Napi::Value MapHandle::GetPerCpu(const Napi::CallbackInfo& info) {
  Require(info.Env(), "map.perCpu");
  return Napi::Boolean::New(info.Env(), IsPerCpu(Type()));
}

// lookup(key, flags?) -> Buffer | undefined
Napi::Value MapHandle::Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map.lookup");
  Bytes key = GetBytesOfSize(env, info[0], KeySize(), "key");
  uint64_t flags = info[1].IsNumber() ? static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value()) : 0;
  Napi::Buffer<uint8_t> value = Napi::Buffer<uint8_t>::New(env, ValueBytes(env));
  int err = bpf_map_lookup_elem_flags(fd, key.data, value.Data(), flags);
  if (err == -ENOENT) return env.Undefined();
  Check(env, err, "map.lookup", "map '" + name_ + "'");
  return value;
}

// lookupInto(key, out, flags?) -> whether the key was there; the value is written into
// `out` (a caller's reusable buffer of the value's size): no allocation per lookup.
Napi::Value MapHandle::LookupInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map.lookup");
  Bytes key = GetBytesOfSize(env, info[0], KeySize(), "key");
  Bytes out = GetBytesOfSize(env, info[1], ValueBytes(env), "value buffer");
  uint64_t flags = info[2].IsNumber() ? static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value()) : 0;
  int err = bpf_map_lookup_elem_flags(fd, key.data, const_cast<uint8_t*>(out.data), flags);
  if (err == -ENOENT) return Napi::Boolean::New(env, false);
  Check(env, err, "map.lookup", "map '" + name_ + "'");
  return Napi::Boolean::New(env, true);
}

int MapHandle::UsableFd() const {
  if (standalone_) return standalone_->fd;
  if (object_ == nullptr || !object_->Usable()) return -1;
  return bpf_map__fd(raw_);
}

// bindBuffers(key, value) -> [lookup, update]: binds the key and value buffers, of the key's
// and the value's size, and returns two functions working on them. lookup() -> whether the
// bound key is there (its value is then in the bound value buffer); update(flags) stores
// the bound value under the bound key. They are plain Node-API functions reaching the
// handle through their data (no ObjectWrap dispatch, no argument to check): the fast path
// of map.get() and map.set(). The buffers' memory must stay where it is: Buffers whose
// ArrayBuffer JavaScript never detaches (the map view's own, kept private). Binding again
// makes the functions of the previous binding throw (their buffers are let go).
Napi::Value MapHandle::BindBuffers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Require(env, "map.bindBuffers");
  Bytes key = GetBytesOfSize(env, info[0], KeySize(), "key buffer");
  Bytes value = GetBytesOfSize(env, info[1], ValueBytes(env), "value buffer");
  auto bound = std::make_shared<Bound>();
  bound->handle = this;
  bound->key = const_cast<uint8_t*>(key.data);
  bound->value = const_cast<uint8_t*>(value.data);
  Napi::Array pair = Napi::Array::New(env, 2);
  const napi_callback callbacks[2] = {&MapHandle::BoundLookup, &MapHandle::BoundUpdate};
  const char* names[2] = {"lookup", "update"};
  for (uint32_t i = 0; i < 2; i++) {
    napi_value fn;
    NAPI_THROW_IF_FAILED(env, napi_create_function(env, names[i], NAPI_AUTO_LENGTH, callbacks[i], bound.get(), &fn), Napi::Value());
    auto* keep = new std::shared_ptr<Bound>(bound);
    napi_status status = napi_add_finalizer(
        env, fn, keep, [](napi_env, void* data, void*) { delete static_cast<std::shared_ptr<Bound>*>(data); }, nullptr, nullptr);
    if (status != napi_ok) {
      delete keep;
      NAPI_THROW_IF_FAILED(env, status, Napi::Value());
    }
    pair.Set(i, Napi::Value(env, fn));
  }
  if (bound_) bound_->handle = nullptr;  // the previous pair's buffers are let go below
  bound_key_ref_ = Napi::Persistent(info[0]);
  bound_value_ref_ = Napi::Persistent(info[1]);
  bound_ = bound;
  return pair;
}

// The slow path of the bound functions: the error RequireFd or the syscall gives, thrown
// as a JavaScript exception (these callbacks are not wrapped by node-addon-api).
napi_value MapHandle::BoundFailed(napi_env env, const Bound* bound, const char* operation, int err) {
  try {
    Napi::Env e(env);
    MapHandle* self = bound->handle;
    if (self == nullptr) ThrowBpfError(e, operation, EBADF, "the map's handle is gone or its buffers were bound again");
    self->RequireFd(e, operation);
    Check(e, err, operation, "map '" + self->name_ + "'");
    ThrowBpfError(e, operation, EINVAL, "map '" + self->name_ + "'");  // not reached: err < 0
  } catch (const Napi::Error& error) {
    error.ThrowAsJavaScriptException();
  }
  return nullptr;
}

napi_value MapHandle::BoundLookup(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc, nullptr, nullptr, &data) != napi_ok) return nullptr;
  const Bound* bound = static_cast<const Bound*>(data);
  int fd = bound->handle != nullptr ? bound->handle->UsableFd() : -1;
  if (fd < 0) return BoundFailed(env, bound, "map.lookup", 0);
  int err = bpf_map_lookup_elem(fd, bound->key, bound->value);
  if (err != 0 && err != -ENOENT) return BoundFailed(env, bound, "map.lookup", err);
  napi_value result = nullptr;
  napi_get_boolean(env, err == 0, &result);
  return result;
}

napi_value MapHandle::BoundUpdate(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value flags_arg = nullptr;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc, &flags_arg, nullptr, &data) != napi_ok) return nullptr;
  const Bound* bound = static_cast<const Bound*>(data);
  int64_t flags = 0;
  if (argc < 1 || napi_get_value_int64(env, flags_arg, &flags) != napi_ok) flags = 0;  // not a number: 0, as update() does
  int fd = bound->handle != nullptr ? bound->handle->UsableFd() : -1;
  if (fd < 0) return BoundFailed(env, bound, "map.update", 0);
  int err = bpf_map_update_elem(fd, bound->key, bound->value, static_cast<uint64_t>(flags));
  if (err != 0) return BoundFailed(env, bound, "map.update", err);
  return nullptr;  // undefined
}

// update(key, value, flags?)
Napi::Value MapHandle::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map.update");
  Bytes key = GetBytesOfSize(env, info[0], KeySize(), "key");
  Bytes value = GetBytesOfSize(env, info[1], ValueBytes(env), "value");
  uint64_t flags = info[2].IsNumber() ? static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value()) : 0;
  Check(env, bpf_map_update_elem(fd, key.data, value.data, flags), "map.update", "map '" + name_ + "'");
  return env.Undefined();
}

// delete(key) -> whether the key was there
Napi::Value MapHandle::Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map.delete");
  Bytes key = GetBytesOfSize(env, info[0], KeySize(), "key");
  int err = bpf_map_delete_elem(fd, key.data);
  if (err == -ENOENT) return Napi::Boolean::New(env, false);
  Check(env, err, "map.delete", "map '" + name_ + "'");
  return Napi::Boolean::New(env, true);
}

// nextKey(key | null) -> Buffer | undefined (no more keys)
Napi::Value MapHandle::NextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map.nextKey");
  size_t key_size = KeySize();
  const void* current = nullptr;
  if (!info[0].IsNull() && !info[0].IsUndefined()) {
    current = GetBytesOfSize(env, info[0], key_size, "key").data;
  }
  Napi::Buffer<uint8_t> next = Napi::Buffer<uint8_t>::New(env, key_size);
  int err = bpf_map_get_next_key(fd, current, next.Data());
  if (err == -ENOENT) return env.Undefined();
  Check(env, err, "map.nextKey", "map '" + name_ + "'");
  return next;
}

Napi::Value MapHandle::GetBtfKeyTypeId(const Napi::CallbackInfo& info) {
  Require(info.Env(), "map.btf");
  return Napi::Number::New(info.Env(), standalone_ ? standalone_->info.btf_key_type_id : bpf_map__btf_key_type_id(raw_));
}

Napi::Value MapHandle::GetBtfValueTypeId(const Napi::CallbackInfo& info) {
  Require(info.Env(), "map.btf");
  return Napi::Number::New(info.Env(), standalone_ ? standalone_->info.btf_value_type_id : bpf_map__btf_value_type_id(raw_));
}

// A global data section's memory. libbpf before 1.2 returns it as const (it is writable
// all the same: libbpf's own skeletons write it).
static void* InitialValue(bpf_map* map, size_t* size) {
  return const_cast<void*>(static_cast<const void*>(bpf_map__initial_value(map, size)));
}

// The memory of a global data section (.data, .bss, .rodata...): before load, its initial
// contents; after load, the kernel map itself, mmapped (libbpf maps it at the same address).
uint8_t* MapHandle::DataRange(Napi::Env env, const std::string& operation, size_t offset, size_t size) {
  bpf_map* map = Require(env, operation);
  if (map == nullptr) ThrowBpfError(env, operation, EINVAL, "map '" + name_ + "' is not a global data section of an object");
  size_t total = 0;
  void* data = InitialValue(map, &total);
  if (data == nullptr) ThrowBpfError(env, operation, EINVAL, "map '" + name_ + "' is not a global data section");
  if (offset > total || size > total - offset) {
    ThrowBpfError(env, operation, ERANGE,
                  "bytes " + std::to_string(offset) + "+" + std::to_string(size) + " of map '" + name_ +
                      "' (" + std::to_string(total) + " bytes)");
  }
  return static_cast<uint8_t*>(data) + offset;
}

// dataBuffer() -> ArrayBuffer over the section's memory itself (before load, its initial
// value; after load, the mmapped map: libbpf maps it at the same address), or null after
// load when libbpf did not map the section (the kernel mmaps only sections with a
// non-static variable: a .rodata of bpf_printk formats is read with a lookup instead).
// Reads and writes go straight to the kernel map with no call at all. The object detaches
// it when it loads (libbpf remaps or unmaps that memory) and when it closes.
// .rodata is mapped read-only after load: the TypeScript layer never writes it then.
Napi::Value MapHandle::DataBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = Require(env, "globals");
  if (map == nullptr) ThrowBpfError(env, "globals", EINVAL, "map '" + name_ + "' is not a global data section of an object");
  size_t size = 0;
  void* data = InitialValue(map, &size);
  if (data == nullptr && object_->IsLoaded() && bpf_map__fd(map) >= 0) return env.Null();
  if (data == nullptr) ThrowBpfError(env, "globals", EINVAL, "map '" + name_ + "' is not a global data section");
  napi_value buffer;
  NAPI_THROW_IF_FAILED(env, napi_create_external_arraybuffer(env, data, size, nullptr, nullptr, &buffer), Napi::Value());
  object_->TrackDataBuffer(env, buffer);
  return Napi::Value(env, buffer);
}

// writeData(offset, bytes): into the initial value before load; into the live map after
// (not .rodata: the kernel froze it, and its mapping is read-only). A loaded section that
// is not memory-mapped is written with a lookup and an update of its one element.
Napi::Value MapHandle::WriteData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t offset = GetUint32(env, info[0], "offset");
  Bytes bytes = GetBytes(env, info[1], "value");
  Require(env, "globals.set");
  if (raw_ != nullptr && object_->IsLoaded() && (bpf_map__map_flags(raw_) & BPF_F_RDONLY_PROG) != 0) {
    ThrowBpfError(env, "globals.set", EPERM,
                  "map '" + name_ + "' is read-only once loaded (the kernel froze it): set .rodata variables before load()");
  }
  size_t mapped_size = 0;  // libbpf writes it unconditionally: never pass null
  if (raw_ != nullptr && object_->IsLoaded() && bpf_map__initial_value(raw_, &mapped_size) == nullptr) {
    int fd = RequireFd(env, "globals.set");
    std::vector<uint8_t> value(ValueSize());
    if (offset > value.size() || bytes.size > value.size() - offset) {
      ThrowBpfError(env, "globals.set", ERANGE, "bytes " + std::to_string(offset) + "+" + std::to_string(bytes.size) +
                                                    " of map '" + name_ + "' (" + std::to_string(value.size()) + " bytes)");
    }
    uint32_t key = 0;
    Check(env, bpf_map_lookup_elem(fd, &key, value.data()), "globals.set", "map '" + name_ + "'");
    if (bytes.size != 0) std::memcpy(value.data() + offset, bytes.data, bytes.size);
    Check(env, bpf_map_update_elem(fd, &key, value.data(), BPF_ANY), "globals.set", "map '" + name_ + "'");
    return env.Undefined();
  }
  uint8_t* target = DataRange(env, "globals.set", offset, bytes.size);
  if (bytes.size != 0) std::memmove(target, bytes.data, bytes.size);
  return env.Undefined();
}

// The memory one BPF_MAP_LOOKUP_BATCH writes: `max` keys, `max` values, the next token.
struct MapHandle::BatchTarget {
  uint8_t* keys;
  uint8_t* values;
  uint8_t* next;
};

// lookupBatch and lookupBatchInto, whose arguments begin (token | null, max): checks the
// map and `max`, gets where the entries go from `target(max, key_size, value_bytes,
// token_size)` (which checks or allocates the memory, and throws), reads the token, and
// makes the one syscall. Returns the entries read; `*done` is set when the kernel has no
// more (ENOENT, this batch being the last).
template <typename Target>
__u32 MapHandle::LookupBatchCall(const Napi::CallbackInfo& info, Target target, bool* done) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map.lookupBatch");
  size_t key_size = KeySize();
  size_t value_bytes = ValueBytes(env);
  size_t token_size = key_size > 8 ? key_size : 8;
  uint32_t max = GetUint32(env, info[1], "batch size");
  if (max == 0 || max > (1u << 20)) ThrowTypeError(env, "batch size must be from 1 to 2^20");
  BatchTarget out = target(max, key_size, value_bytes, token_size);
  std::vector<uint8_t> in;  // a copy: `next` may be the token's own buffer
  if (!info[0].IsNull() && !info[0].IsUndefined()) {
    Bytes token = GetBytesOfSize(env, info[0], token_size, "batch token");
    in.assign(token.data, token.data + token.size);
  }
  __u32 count = max;
  bpf_map_batch_opts opts = BatchOpts();
  int err = bpf_map_lookup_batch(fd, in.empty() ? nullptr : in.data(), out.next, out.keys, out.values, &count, &opts);
  *done = err == -ENOENT;
  if (err < 0 && !*done) Check(env, err, "map.lookupBatch", "map '" + name_ + "'");
  return count;
}

// lookupBatch(token | null, max) -> { keys, values, count, token, done }: up to `max`
// entries in one syscall, into new Buffers. `token` continues where the previous call
// stopped (opaque).
Napi::Value MapHandle::LookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> keys, values, token;
  bool done = false;
  __u32 count = LookupBatchCall(
      info,
      [&](uint32_t max, size_t key_size, size_t value_bytes, size_t token_size) {
        // Both buffers are allocated up front: refuse a batch that cannot be (rather than a
        // plain allocation Error from Node-API).
        if ((key_size + value_bytes) * static_cast<size_t>(max) > (static_cast<size_t>(1) << 30)) {
          throw Napi::RangeError::New(env, "batch of " + std::to_string(max) + " entries of " + std::to_string(key_size + value_bytes) +
                                               " bytes is over 1 GiB: use a smaller batchSize");
        }
        keys = Napi::Buffer<uint8_t>::New(env, key_size * max);
        values = Napi::Buffer<uint8_t>::New(env, value_bytes * max);
        token = Napi::Buffer<uint8_t>::New(env, token_size);
        return BatchTarget{keys.Data(), values.Data(), token.Data()};
      },
      &done);
  Napi::Object result = Napi::Object::New(env);
  result.Set("keys", keys);
  result.Set("values", values);
  result.Set("count", count);
  result.Set("token", token);
  result.Set("done", done);
  return result;
}

// lookupBatchInto(token | null, max, keys, values, next) -> count, or -1 - count for the
// last batch: lookupBatch into the caller's buffers (reused from batch to batch, so the
// kernel copies into memory that is already there), of at least `max` keys and values;
// `next` (the token's size: the key's, at least 8 bytes) receives the token of the next
// call, and may be the buffer `token` itself.
Napi::Value MapHandle::LookupBatchInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool done = false;
  __u32 count = LookupBatchCall(
      info,
      [&](uint32_t max, size_t key_size, size_t value_bytes, size_t token_size) {
        Bytes keys = GetBytes(env, info[2], "keys buffer");
        Bytes values = GetBytes(env, info[3], "values buffer");
        Bytes next = GetBytesOfSize(env, info[4], token_size, "batch token");
        if (keys.size < key_size * max || values.size < value_bytes * max) {
          ThrowTypeError(env, "the keys and values buffers must hold " + std::to_string(max) + " entries");
        }
        return BatchTarget{const_cast<uint8_t*>(keys.data), const_cast<uint8_t*>(values.data), const_cast<uint8_t*>(next.data)};
      },
      &done);
  return Napi::Number::New(env, done ? -1.0 - count : static_cast<double>(count));
}

// updateBatch(keys, values, count, flags) -> entries written
Napi::Value MapHandle::UpdateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map.updateBatch");
  uint32_t count = GetUint32(env, info[2], "count");
  Bytes keys = GetBytesOfSize(env, info[0], KeySize() * static_cast<size_t>(count), "keys");
  Bytes values = GetBytesOfSize(env, info[1], ValueBytes(env) * static_cast<size_t>(count), "values");
  bpf_map_batch_opts opts = BatchOpts();
  opts.elem_flags = info[3].IsNumber() ? static_cast<__u64>(info[3].As<Napi::Number>().Int64Value()) : 0;
  __u32 done = count;
  Check(env, bpf_map_update_batch(fd, keys.data, values.data, &done, &opts), "map.updateBatch", "map '" + name_ + "'");
  return Napi::Number::New(env, done);
}

// deleteBatch(keys, count) -> entries deleted (stops at the first key that is not there)
Napi::Value MapHandle::DeleteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map.deleteBatch");
  uint32_t count = GetUint32(env, info[1], "count");
  Bytes keys = GetBytesOfSize(env, info[0], KeySize() * static_cast<size_t>(count), "keys");
  bpf_map_batch_opts opts = BatchOpts();
  __u32 done = count;
  int err = bpf_map_delete_batch(fd, keys.data, &done, &opts);
  if (err < 0 && err != -ENOENT) Check(env, err, "map.deleteBatch", "map '" + name_ + "'");
  return Napi::Number::New(env, done);
}

// push(value, flags): queue, stack (enqueue) and bloom filter (add) maps, which have no keys.
Napi::Value MapHandle::Push(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map.push");
  Bytes value = GetBytesOfSize(env, info[0], ValueBytes(env), "value");
  uint64_t flags = info[1].IsNumber() ? static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value()) : 0;
  Check(env, bpf_map_update_elem(fd, nullptr, value.data, flags), "map.push", "map '" + name_ + "'");
  return env.Undefined();
}

Napi::Value MapHandle::KeylessLookup(const Napi::CallbackInfo& info, bool remove) {
  Napi::Env env = info.Env();
  const char* operation = remove ? "map.pop" : "map.peek";
  int fd = RequireFd(env, operation);
  Napi::Buffer<uint8_t> value = Napi::Buffer<uint8_t>::New(env, ValueBytes(env));
  int err = remove ? bpf_map_lookup_and_delete_elem(fd, nullptr, value.Data()) : bpf_map_lookup_elem(fd, nullptr, value.Data());
  if (err == -ENOENT) return env.Undefined();
  Check(env, err, operation, "map '" + name_ + "'");
  return value;
}

// pop() -> Buffer | undefined (queue: oldest, stack: newest)
Napi::Value MapHandle::Pop(const Napi::CallbackInfo& info) { return KeylessLookup(info, true); }

// peek(value?) -> Buffer | undefined; for bloom filters, peek(value) tells membership.
Napi::Value MapHandle::Peek(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info[0].IsUndefined()) return KeylessLookup(info, false);
  int fd = RequireFd(env, "map.peek");
  Bytes value = GetBytesOfSize(env, info[0], ValueBytes(env), "value");
  std::vector<uint8_t> copy(value.data, value.data + value.size);
  int err = bpf_map_lookup_elem(fd, nullptr, copy.data());
  if (err == -ENOENT) return Napi::Boolean::New(env, false);
  Check(env, err, "map.peek", "map '" + name_ + "'");
  return Napi::Boolean::New(env, true);
}

// freeze(): no more writes from user space (BPF_MAP_FREEZE).
Napi::Value MapHandle::Freeze(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, bpf_map_freeze(RequireFd(env, "map.freeze")), "map.freeze", "map '" + name_ + "'");
  return env.Undefined();
}

}  // namespace ebpf
