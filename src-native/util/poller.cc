#include "poller.h"

namespace ebpf {

struct Poller::Handle {
  uv_poll_t uv;
  napi_env env;
  Listener* listener;  // null once the owner has let go
  Poller* poller;      // likewise
  napi_async_cleanup_hook_handle cleanup;
};

Poller::~Poller() { Close(); }

int Poller::Start(napi_env env, int fd, Listener* listener) {
  if (handle_ == nullptr) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return UV_EINVAL;
    Handle* h = new Handle();
    h->env = env;
    h->listener = listener;
    h->poller = this;
    h->cleanup = nullptr;
    int err = uv_poll_init(loop, &h->uv, fd);
    if (err < 0) {
      delete h;
      return err;
    }
    napi_add_async_cleanup_hook(env, OnEnvCleanup, h, &h->cleanup);
    handle_ = h;
  }
  int err = uv_poll_start(&handle_->uv, UV_READABLE, OnPoll);
  if (err == 0) active_ = true;
  return err;
}

void Poller::Stop() {
  if (handle_ != nullptr && active_) uv_poll_stop(&handle_->uv);
  active_ = false;
}

void Poller::Close() {
  active_ = false;
  if (handle_ == nullptr) return;
  handle_->listener = nullptr;
  handle_->poller = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_->uv), OnClosed);
  handle_ = nullptr;
}

void Poller::OnPoll(uv_poll_t* uv, int status, int /*events*/) {
  Handle* h = reinterpret_cast<Handle*>(uv);
  if (h->listener == nullptr) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(h->env, &scope) != napi_ok) return;
  bool alive = h->listener->OnReadable(h->env, status);
  napi_close_handle_scope(h->env, scope);
  // JavaScript cannot run any more: stop; the cleanup hook frees the rest.
  if (!alive && h->listener != nullptr) uv_poll_stop(&h->uv);
}

void Poller::OnClosed(uv_handle_t* uv) {
  Handle* h = reinterpret_cast<Handle*>(uv);
  if (h->cleanup != nullptr) napi_remove_async_cleanup_hook(h->cleanup);
  delete h;
}

void Poller::OnEnvCleanup(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  Handle* h = static_cast<Handle*>(arg);
  Listener* listener = h->listener;
  h->listener = nullptr;
  if (h->poller != nullptr) {  // the handle is closed here, not by its poller
    h->poller->handle_ = nullptr;
    h->poller->active_ = false;
    h->poller = nullptr;
  }
  if (listener != nullptr) listener->OnEnvTeardown();  // frees the owner's resources
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&h->uv))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&h->uv), OnClosed);  // removes the hook when done
  }
}

bool CallJs(napi_env env, napi_async_context context, napi_ref fn_ref, size_t argc, napi_value* argv) noexcept {
  napi_value fn = nullptr, recv, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || napi_get_global(env, &recv) != napi_ok) return false;
  if (fn == nullptr) return true;  // collected: nobody is listening
  if (napi_make_callback(env, context, recv, fn, argc, argv, &result) == napi_ok) return true;
  bool pending = false;
  napi_value exception;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
    napi_fatal_exception(env, exception);
    return true;
  }
  return false;
}

}  // namespace ebpf
