#include "fd_watcher.h"

#include <cerrno>

#include "util/args.h"
#include "util/errors.h"
#include "util/type_tags.h"

namespace ebpf {

Napi::Function FdWatcher::Init(Napi::Env env) {
  return DefineClass(env, "FdWatcher", {
      InstanceMethod("start", &FdWatcher::Start),
      InstanceMethod("stop", &FdWatcher::Stop),
      InstanceMethod("close", &FdWatcher::Close),
  });
}

// new FdWatcher(fd, onReadable(error | null))
FdWatcher::FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
  Napi::Env env = info.Env();
  fd_ = static_cast<int>(GetUint32(env, info[0], "fd"));
  if (!info[1].IsFunction()) ThrowTypeError(env, "onReadable must be a function");
  // Strong while watching only, as for the readers.
  callback_ = Napi::Weak(info[1].As<Napi::Function>());
  // Without our object as its resource, as for the readers (Node 26 holds it strongly).
  async_context_ = std::make_unique<Napi::AsyncContext>(env, "ebpf:FdWatcher");
  Tag(env, info.This(), Kind::FdWatcher);
}

FdWatcher::~FdWatcher() { poller_.Close(); }

bool FdWatcher::OnReadable(napi_env env, int status) noexcept {
  napi_value arg;
  if (status < 0) {
    ErrorDetails d;
    d.operation = "watch";
    d.err = -status;
    arg = BpfErrorValue(env, d);
    if (arg == nullptr) return false;
  } else if (napi_get_null(env, &arg) != napi_ok) {
    return false;
  }
  return callback_.IsEmpty() || CallJs(env, *async_context_, callback_, 1, &arg);
}

Napi::Value FdWatcher::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) ThrowBpfError(env, "watch", EBADF, "the watcher is closed");
  if (poller_.active()) return env.Undefined();
  int err = poller_.Start(env, fd_, this);
  if (err < 0) ThrowBpfError(env, "watch", -err, "uv_poll_start");
  Ref();
  callback_.Ref();
  return env.Undefined();
}

Napi::Value FdWatcher::Stop(const Napi::CallbackInfo& info) {
  if (poller_.active()) {
    poller_.Stop();
    Unref();
    callback_.Unref();
  }
  return info.Env().Undefined();
}

Napi::Value FdWatcher::Close(const Napi::CallbackInfo& info) {
  bool was_active = poller_.active();
  poller_.Close();
  fd_ = -1;
  if (was_active) Unref();
  if (!callback_.IsEmpty()) callback_.Reset();
  return info.Env().Undefined();
}

}  // namespace ebpf
