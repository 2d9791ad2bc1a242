// A file descriptor watched on the environment's libuv loop (uv_poll_t), for the readers.
//
// The uv handle lives on the heap apart from its owner, because uv_close completes later
// than the owner may be freed; an async cleanup hook closes it when the environment (a
// worker_thread) goes away, and the environment's teardown waits for that. The listener's
// OnReadable runs on the JS thread but outside any JS call: it may only use plain,
// checked Node-API calls (see CallJs).
#pragma once

#include <node_api.h>
#include <uv.h>

namespace ebpf {

class Poller {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // `status` < 0 is a libuv error. Returns false when JavaScript can no longer run (the
    // environment is being torn down): polling then stops.
    virtual bool OnReadable(napi_env env, int status) noexcept = 0;
    // The environment is going away: free native resources, call no JavaScript.
    virtual void OnEnvTeardown() noexcept = 0;
  };

  Poller() = default;
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // Starts (or resumes) watching `fd` for reading. Returns 0 or a negative libuv error.
  int Start(napi_env env, int fd, Listener* listener);
  void Stop();
  // Stops and hands the handle to uv_close; idempotent.
  void Close();
  bool active() const { return active_; }

 private:
  struct Handle;
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnClosed(uv_handle_t* handle);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg);

  Handle* handle_ = nullptr;
  bool active_ = false;
};

// Calls `fn` (a reference, possibly weak) with napi_make_callback, so that promise jobs
// run after it. Returns false when JavaScript cannot run; an exception thrown by the
// callback is reported as uncaught. Never throws.
bool CallJs(napi_env env, napi_async_context context, napi_ref fn, size_t argc, napi_value* argv) noexcept;

}  // namespace ebpf
