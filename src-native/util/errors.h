// Every libbpf or kernel failure becomes a BpfError created by the TypeScript layer's
// factory (registered once per environment), carrying errno, its system name and the
// operation that failed. libbpf return values are checked here and nowhere else.
#pragma once

#include <napi.h>

#include <cerrno>

#include <string>

namespace ebpf {

class LogCapture;

struct ErrorDetails {
  std::string operation;  // e.g. "load", "map.update", "attachTracepoint"
  int err = 0;            // positive errno
  std::string detail;     // what we were doing, e.g. "map 'counts'"
  std::string libbpf;     // the tail of libbpf's messages for this operation
  std::string verifier;   // the verifier log, when the verifier rejected a program
};

Napi::Error MakeBpfError(Napi::Env env, const ErrorDetails& details);

// The same error built with plain Node-API calls, for libuv callbacks: nullptr (and no C++
// exception) when JavaScript cannot run, e.g. while a worker_thread is being terminated.
napi_value BpfErrorValue(napi_env env, const ErrorDetails& details) noexcept;

// EOPNOTSUPP for a feature this build's libbpf (older than `needed`, e.g. "1.3") lacks:
// "<detail>: this addon was built with libbpf X.Y, and <feature> need libbpf <needed> or later".
[[noreturn]] void ThrowNeedsLibbpf(Napi::Env env, const std::string& operation, const std::string& detail,
                                   const std::string& feature, const std::string& needed);

[[noreturn]] void ThrowBpfError(Napi::Env env, const std::string& operation, int err,
                                const std::string& detail = std::string(),
                                const LogCapture* log = nullptr);

// libbpf convention: a negative return is -errno. Returns `ret` when it is not an error.
int Check(Napi::Env env, int ret, const std::string& operation,
          const std::string& detail = std::string(), const LogCapture* log = nullptr);

// libbpf convention for pointers: NULL with errno set. `call` runs after every argument
// (and any allocation they need) is ready, and errno is read straight after it.
template <typename F>
auto CheckPtr(Napi::Env env, F call, const std::string& operation,
              const std::string& detail = std::string(), const LogCapture* log = nullptr) {
  errno = 0;
  auto* ptr = call();
  int err = errno;
  if (ptr == nullptr) ThrowBpfError(env, operation, err != 0 ? err : EINVAL, detail, log);
  return ptr;
}

[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);

}  // namespace ebpf
