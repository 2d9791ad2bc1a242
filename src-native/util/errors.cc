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

}  // namespace ebpf
