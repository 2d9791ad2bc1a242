#include "errors.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "../addon.h"
#include "log.h"

namespace ebpf {
namespace {

#define EBPF_LIBBPF_ERRNO_NAME(x) \
  case x:                             \
    return #x;

// libbpf's own codes (4000 and up) go by their names in libbpf.h; the rest by the C
// library's name for the errno.
std::string ErrnoName(int err) {
  switch (err) {
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__LIBELF)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__FORMAT)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__KVERSION)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__ENDIAN)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__INTERNAL)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__RELOC)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__LOAD)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__VERIFY)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__PROG2BIG)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__KVER)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__PROGTYPE)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__WRNGPID)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__INVSEQ)
    EBPF_LIBBPF_ERRNO_NAME(LIBBPF_ERRNO__NLPARSE)
    case 524:  // the kernel's internal ENOTSUPP, which leaks to user space from BPF syscalls
      return "ENOTSUPP";
    default:
      break;
  }
  const char* name = strerrorname_np(err);
  return name != nullptr ? std::string(name) : "E" + std::to_string(err);
}

std::string Describe(int err) {
  char buf[256];
  if (libbpf_strerror(err, buf, sizeof(buf)) == 0) return buf;
  return strerror(err);
}

}  // namespace

Napi::Error MakeBpfError(Napi::Env env, const ErrorDetails& d) {
  Napi::Object info = Napi::Object::New(env);
  info.Set("operation", d.operation);
  info.Set("errno", d.err);
  info.Set("code", ErrnoName(d.err));
  info.Set("description", Describe(d.err));
  info.Set("detail", d.detail);
  info.Set("libbpf", d.libbpf);
  if (!d.verifier.empty()) info.Set("verifierLog", d.verifier);

  Addon* addon = Addon::Get(env);
  if (addon != nullptr && !addon->error_factory.IsEmpty()) {
    Napi::Value made = addon->error_factory.Call({info});
    if (made.IsObject()) return Napi::Error(env, made);
  }
  // The TypeScript layer is not initialised (a bare require of the addon): plain Error.
  std::string message = d.operation + ": " + Describe(d.err);
  if (!d.detail.empty()) message += " (" + d.detail + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Value().Set("errno", d.err);
  error.Value().Set("code", ErrnoName(d.err));
  error.Value().Set("operation", d.operation);
  return error;
}

napi_value BpfErrorValue(napi_env env, const ErrorDetails& d) noexcept {
  try {
    napi_value info, value;
    if (napi_create_object(env, &info) != napi_ok) return nullptr;
    auto set_string = [&](const char* key, const std::string& s) {
      return napi_create_string_utf8(env, s.data(), s.size(), &value) == napi_ok &&
             napi_set_named_property(env, info, key, value) == napi_ok;
    };
    bool ok = set_string("operation", d.operation) && set_string("code", ErrnoName(d.err)) &&
              set_string("description", Describe(d.err)) && set_string("detail", d.detail) &&
              set_string("libbpf", d.libbpf) && napi_create_int32(env, d.err, &value) == napi_ok &&
              napi_set_named_property(env, info, "errno", value) == napi_ok;
    if (!ok) return nullptr;
    void* data = nullptr;
    if (napi_get_instance_data(env, &data) != napi_ok || data == nullptr) return nullptr;
    Addon* addon = static_cast<Addon*>(data);
    if (addon->error_factory.IsEmpty()) return nullptr;
    napi_value factory, undefined, error;
    if (napi_get_reference_value(env, addon->error_factory, &factory) != napi_ok ||
        napi_get_undefined(env, &undefined) != napi_ok ||
        napi_call_function(env, undefined, factory, 1, &info, &error) != napi_ok) {
      return nullptr;
    }
    return error;
  } catch (...) {
    return nullptr;
  }
}

void ThrowBpfError(Napi::Env env, const std::string& operation, int err,
                   const std::string& detail, const LogCapture* log) {
  ErrorDetails d;
  d.operation = operation;
  d.err = err < 0 ? -err : err;
  d.detail = detail;
  if (log != nullptr) {
    d.verifier = ExtractVerifierLog(log->text());
    d.libbpf = TailLines(log->text(), 8);
  }
  throw MakeBpfError(env, d);
}

int Check(Napi::Env env, int ret, const std::string& operation, const std::string& detail,
          const LogCapture* log) {
  if (ret < 0) ThrowBpfError(env, operation, -ret, detail, log);
  return ret;
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

void ThrowNeedsLibbpf(Napi::Env env, const std::string& operation, const std::string& detail,
                      const std::string& feature, const std::string& needed) {
  ThrowBpfError(env, operation, EOPNOTSUPP,
                detail + ": this addon was built with libbpf " + std::to_string(LIBBPF_MAJOR_VERSION) + "." +
                    std::to_string(LIBBPF_MINOR_VERSION) + ", and " + feature + " need libbpf " + needed + " or later");
}

}  // namespace ebpf
