#include "object.h"

#include <bpf/btf.h>
#include <elf.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "btf.h"
#include "map.h"
#include "program.h"
#include "util/args.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/type_tags.h"

namespace ebpf {

Napi::Function ObjectHandle::Init(Napi::Env env) {
  return DefineClass(env, "ObjectHandle", {
      InstanceMethod("programs", &ObjectHandle::Programs),
      InstanceMethod("maps", &ObjectHandle::Maps),
      InstanceMethod("btf", &ObjectHandle::Btf),
      InstanceMethod("load", &ObjectHandle::Load),
      InstanceMethod("close", &ObjectHandle::Close),
      InstanceAccessor("name", &ObjectHandle::GetName, nullptr),
  });
}

namespace {

// The bytes of section `want` of a little-endian ELF64 image, when its headers are within
// the image; false otherwise (libbpf then reports what is wrong with it). Read as libelf
// reads them: whatever e_shentsize says, and with extended numbering (the count and the
// names' index in section 0) when e_shnum or e_shstrndx says so.
bool FindSection(const uint8_t* data, size_t size, const char* want, const uint8_t** out, size_t* out_size) {
  Elf64_Ehdr eh;
  if (size < sizeof(eh)) return false;
  memcpy(&eh, data, sizeof(eh));
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) return false;
  if (eh.e_shoff == 0 || eh.e_shoff > size || (size - eh.e_shoff) < sizeof(Elf64_Shdr)) return false;
  auto header = [&](size_t i) {
    Elf64_Shdr sh;
    memcpy(&sh, data + eh.e_shoff + i * sizeof(sh), sizeof(sh));
    return sh;
  };
  Elf64_Shdr first = header(0);
  uint64_t count = eh.e_shnum != 0 ? eh.e_shnum : first.sh_size;
  uint64_t names_index = eh.e_shstrndx != SHN_XINDEX ? eh.e_shstrndx : first.sh_link;
  if (count > (size - eh.e_shoff) / sizeof(Elf64_Shdr) || names_index >= count) return false;
  Elf64_Shdr names = header(names_index);
  if (names.sh_offset > size || names.sh_size > size - names.sh_offset) return false;
  const char* table = reinterpret_cast<const char*>(data + names.sh_offset);
  for (size_t i = 0; i < count; i++) {
    Elf64_Shdr sh = header(i);
    if (sh.sh_name >= names.sh_size) continue;
    size_t room = names.sh_size - sh.sh_name;
    if (strnlen(table + sh.sh_name, room) == room || strcmp(table + sh.sh_name, want) != 0) continue;
    if (sh.sh_type == SHT_NOBITS || sh.sh_offset > size || sh.sh_size > size - sh.sh_offset) return false;
    *out = data + sh.sh_offset;
    *out_size = sh.sh_size;
    return true;
  }
  return false;
}

// Every type id that the image's BTF refers to names one of its types, and every name
// offset is within its strings; otherwise why not. libbpf 1.5 rejects such BTF when it
// opens the object; older ones (a system libbpf, in a source build) follow them unchecked,
// and Debian 12's 1.1 crashed on both (found by the corrupt-ELF test against the system
// libbpf build, and by mutating our fixtures).
std::string BadBtfReference(const uint8_t* data, size_t size) {
  const uint8_t* section = nullptr;
  size_t length = 0;
  if (!FindSection(data, size, ".BTF", &section, &length) || length == 0) return "";
  btf* types = btf__new(section, static_cast<__u32>(length));
  if (types == nullptr) return "";  // libbpf rejects it itself, with its reason
  uint32_t count = btf__type_cnt(types);
  std::string why;
  auto check = [&](uint32_t id, uint32_t target) {
    if (target >= count && why.empty()) {
      why = "its BTF type [" + std::to_string(id) + "] refers to type [" + std::to_string(target) + "], and the last is [" +
            std::to_string(count - 1) + "]";
    }
  };
  auto name = [&](uint32_t id, uint32_t offset) {
    if (why.empty() && btf__name_by_offset(types, offset) == nullptr) {
      why = "its BTF type [" + std::to_string(id) + "] has a name at offset " + std::to_string(offset) + ", past its strings";
    }
  };
  for (uint32_t id = 1; id < count && why.empty(); id++) {
    const btf_type* t = btf__type_by_id(types, id);
    uint16_t n = btf_vlen(t);
    name(id, t->name_off);
    switch (btf_kind(t)) {
      case BTF_KIND_PTR:
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_CONST:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_FUNC:
      case BTF_KIND_VAR:
      case BTF_KIND_DECL_TAG:
      case BTF_KIND_TYPE_TAG:
        check(id, t->type);
        break;
      case BTF_KIND_ARRAY:
        check(id, btf_array(t)->type);
        check(id, btf_array(t)->index_type);
        break;
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION:
        for (uint16_t i = 0; i < n; i++) {
          check(id, btf_members(t)[i].type);
          name(id, btf_members(t)[i].name_off);
        }
        break;
      case BTF_KIND_ENUM:
        for (uint16_t i = 0; i < n; i++) name(id, btf_enum(t)[i].name_off);
        break;
      case BTF_KIND_ENUM64:
        for (uint16_t i = 0; i < n; i++) name(id, btf_enum64(t)[i].name_off);
        break;
      case BTF_KIND_FUNC_PROTO:
        check(id, t->type);
        for (uint16_t i = 0; i < n; i++) {
          check(id, btf_params(t)[i].type);
          name(id, btf_params(t)[i].name_off);
        }
        break;
      case BTF_KIND_DATASEC:
        for (uint16_t i = 0; i < n; i++) check(id, btf_var_secinfos(t)[i].type);
        break;
      default:
        break;
    }
  }
  btf__free(types);
  return why;
}

// Whether the libbpf in use is older than the one the package pins (1.5).
bool OlderLibbpf() { return libbpf_major_version() < 1 || (libbpf_major_version() == 1 && libbpf_minor_version() < 5); }

// Before an older libbpf opens an image: its BTF's type references.
void CheckBtfReferences(Napi::Env env, const uint8_t* data, size_t size, const std::string& what) {
  std::string why = BadBtfReference(data, size);
  if (!why.empty()) ThrowBpfError(env, "open", EINVAL, what + ": " + why);
}

}  // namespace

// new ObjectHandle(pathOrBytes, { name?, pinRoot?, btfPath?, tokenPath? })
ObjectHandle::ObjectHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ObjectHandle>(info) {
  Napi::Env env = info.Env();
  std::string object_name, pin_root, btf_path, token_path;
  bool has_token_path = false;
  if (info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (o.Has("name") && !o.Get("name").IsUndefined()) object_name = GetString(env, o.Get("name"), "options.name");
    if (o.Has("pinRoot") && !o.Get("pinRoot").IsUndefined()) pin_root = GetString(env, o.Get("pinRoot"), "options.pinRoot");
    if (o.Has("btfPath") && !o.Get("btfPath").IsUndefined()) btf_path = GetString(env, o.Get("btfPath"), "options.btfPath");
    if (o.Has("tokenPath") && !o.Get("tokenPath").IsUndefined()) {
      token_path = GetString(env, o.Get("tokenPath"), "options.tokenPath");
      has_token_path = true;
    }
  }
  bpf_object_open_opts opts{};
  opts.sz = sizeof(opts);
  if (!object_name.empty()) opts.object_name = object_name.c_str();
  if (!pin_root.empty()) opts.pin_root_path = pin_root.c_str();
  if (!btf_path.empty()) opts.btf_custom_path = btf_path.c_str();
  // An empty tokenPath is meaningful to libbpf: no token at all, not even from
  // LIBBPF_BPF_TOKEN_PATH or /sys/fs/bpf.
#if LIBBPF_MAJOR_VERSION > 1 || (LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION >= 4)
  if (has_token_path) opts.bpf_token_path = token_path.c_str();
#else
  if (has_token_path) {
    ThrowNeedsLibbpf(env, "open", "tokenPath", "BPF tokens", "1.4");
  }
#endif

  LogCapture log;
  if (info[0].IsString()) {
    std::string path = GetString(env, info[0], "path");
    if (OlderLibbpf()) {
      std::ifstream file(path, std::ios::binary);  // unreadable: libbpf says why when it opens it
      std::vector<uint8_t> image((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      CheckBtfReferences(env, image.data(), image.size(), path);
    }
    obj_ = CheckPtr(env, [&] { return bpf_object__open_file(path.c_str(), &opts); }, "open", path, &log);
  } else {
    Bytes bytes = GetBytes(env, info[0], "object image");
    if (bytes.size == 0) ThrowBpfError(env, "open", EINVAL, "the object image is empty");
    image_.assign(bytes.data, bytes.data + bytes.size);
    if (OlderLibbpf()) CheckBtfReferences(env, image_.data(), image_.size(), object_name.empty() ? "object image" : object_name);
    obj_ = CheckPtr(env, [&] { return bpf_object__open_mem(image_.data(), image_.size(), &opts); }, "open",
                    object_name.empty() ? "object image" : object_name, &log);
  }
  name_ = bpf_object__name(obj_);
  env_ = env;
  Tag(env, info.This(), Kind::Object);
  addon_ = Addon::Get(env);
  addon_->TrackObject(this);
}

ObjectHandle::~ObjectHandle() { Release(); }

void ObjectHandle::Release() {
  // A load in flight owns the object until it returns (environment teardown only: close()
  // from JavaScript defers instead).
  while (executing_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  OrphanLoad();
  std::set<Resource*> links;
  links.swap(links_);
  for (Resource* link : links) link->Release();
  DetachDataBuffers();
  if (obj_ != nullptr) {
    bpf_object__close(obj_);
    obj_ = nullptr;
  }
  if (addon_ != nullptr) {
    addon_->UntrackObject(this);
    addon_ = nullptr;
  }
}

void ObjectHandle::DetachDataBuffers() {
  for (napi_ref ref : data_buffers_) {
    napi_value buffer = nullptr;
    if (napi_get_reference_value(env_, ref, &buffer) == napi_ok && buffer != nullptr) {
      napi_detach_arraybuffer(env_, buffer);
    }
    napi_delete_reference(env_, ref);
  }
  data_buffers_.clear();
}

void ObjectHandle::TrackDataBuffer(Napi::Env env, napi_value array_buffer) {
  napi_ref ref;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, array_buffer, 0, &ref));
  data_buffers_.push_back(ref);
}

bpf_object* ObjectHandle::Require(Napi::Env env, const std::string& operation) {
  if (obj_ == nullptr) ThrowBpfError(env, operation, EBADF, "the object is closed");
  if (busy_) ThrowBpfError(env, operation, EBUSY, "the object is loading; await load() first");
  return obj_;
}

namespace {

// One handle per part (program or map) of the object, in ELF order.
template <typename Next, typename Make>
Napi::Array ListParts(Napi::Env env, Next next, Make make) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto* part = next(nullptr); part != nullptr; part = next(part)) out.Set(i++, make(part));
  return out;
}

}  // namespace

Napi::Value ObjectHandle::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = Require(env, "programs");
  return ListParts(
      env, [obj](bpf_program* p) { return bpf_object__next_program(obj, p); },
      [&](bpf_program* p) { return ProgramHandle::New(env, Value(), p); });
}

Napi::Value ObjectHandle::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = Require(env, "maps");
  return ListParts(
      env, [obj](bpf_map* m) { return bpf_object__next_map(obj, m); },
      [&](bpf_map* m) { return MapHandle::New(env, Value(), m); });
}

// btf(): the object's BTF types (index = type id), or null when it has no BTF.
Napi::Value ObjectHandle::Btf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const btf* types = bpf_object__btf(Require(env, "btf"));
  if (types == nullptr) return env.Null();
  return DescribeBtf(env, types);
}

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(ObjectHandle* owner, Napi::Object receiver)
      : Napi::AsyncWorker(receiver.Env(), "ebpf:load"),
        owner_(owner),
        receiver_(Napi::Persistent(receiver)),
        obj_(owner->obj_),
        deferred_(Napi::Promise::Deferred::New(receiver.Env())) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    LogCapture capture;
    err_ = bpf_object__load(obj_);
    log_ = capture.text();
    owner_->executing_.store(false);
  }

  // The object went away first (the environment's cleanup released it while the verifier
  // ran): the completion must not touch it, nor JavaScript, which may no longer run.
  void Orphan() { owner_ = nullptr; }

  // Called from libuv: nothing may throw out of it. While a worker_thread is terminated,
  // JavaScript cannot run, and settling the promise fails: then there is no one to tell.
  void OnOK() override {
    if (owner_ == nullptr) return;
    owner_->load_worker_ = nullptr;
    owner_->busy_ = false;
    try {
      Settle();
    } catch (...) {
      // The environment is going away.
    }
  }

 private:
  void Settle() {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      if (owner_->close_pending_) {
        owner_->Release();
        ThrowBpfError(env, "load", ECANCELED, "the object was closed while it was loading");
      }
      if (owner_->obj_ == nullptr) ThrowBpfError(env, "load", EBADF, "the object is closed");
      if (err_ < 0) {
        ErrorDetails d;
        d.operation = "load";
        d.err = -err_;
        d.detail = "object '" + owner_->name_ + "'";
        d.verifier = ExtractVerifierLog(log_);
        d.libbpf = TailLines(log_, 8);
        throw MakeBpfError(env, d);
      }
      owner_->loaded_ = true;
      deferred_.Resolve(env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  ObjectHandle* owner_;
  Napi::ObjectReference receiver_;  // keeps the object alive while the verifier runs
  bpf_object* obj_;
  Napi::Promise::Deferred deferred_;
  int err_ = 0;
  std::string log_;
};

Napi::Value ObjectHandle::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Require(env, "load");
  if (loaded_) ThrowBpfError(env, "load", EALREADY, "object '" + name_ + "' is already loaded");
  LoadWorker* worker = new LoadWorker(this, Value());
  Napi::Promise promise = worker->Promise();
  DetachDataBuffers();
  load_worker_ = worker;
  busy_ = true;
  executing_.store(true);
  worker->Queue();
  return promise;
}

void ObjectHandle::OrphanLoad() {
  if (load_worker_ != nullptr) {
    load_worker_->Orphan();
    load_worker_ = nullptr;
  }
}

Napi::Value ObjectHandle::Close(const Napi::CallbackInfo& info) {
  if (busy_) {
    close_pending_ = true;  // the load worker closes it when the verifier returns
  } else {
    Release();
  }
  return info.Env().Undefined();
}

Napi::Value ObjectHandle::GetName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), name_);
}

}  // namespace ebpf
