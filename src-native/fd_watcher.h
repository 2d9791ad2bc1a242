// FdWatcher: calls a JavaScript function when a file descriptor the JavaScript side owns
// (opened O_NONBLOCK, e.g. tracefs's trace_pipe) becomes readable. JavaScript then reads
// it itself until EAGAIN. Close the watcher before closing the fd.
#pragma once

#include <napi.h>

#include <memory>

#include "util/poller.h"

namespace ebpf {

class FdWatcher : public Napi::ObjectWrap<FdWatcher>, public Poller::Listener {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit FdWatcher(const Napi::CallbackInfo& info);
  ~FdWatcher() override;

 private:
  bool OnReadable(napi_env env, int status) noexcept override;
  void OnEnvTeardown() noexcept override { fd_ = -1; }

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  int fd_ = -1;
  Poller poller_;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
};

}  // namespace ebpf
