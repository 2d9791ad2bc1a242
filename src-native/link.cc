#include "link.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "object.h"
#include "system.h"
#include "util/args.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/type_tags.h"

namespace ebpf {

Napi::Function LinkHandle::Init(Napi::Env env) {
  return DefineClass(env, "LinkHandle", {
      InstanceMethod("destroy", &LinkHandle::Destroy),
      InstanceAccessor("fd", &LinkHandle::GetFd, nullptr),
      InstanceAccessor("closed", &LinkHandle::GetClosed, nullptr),
      InstanceMethod("info", &LinkHandle::Info),
      InstanceMethod("pin", &LinkHandle::Pin),
      InstanceMethod("unpin", &LinkHandle::Unpin),
      InstanceMethod("update", &LinkHandle::Update),
      InstanceMethod("forceDetach", &LinkHandle::ForceDetach),
      InstanceMethod("readIter", &LinkHandle::ReadIter),
      InstanceMethod("openIter", &LinkHandle::OpenIter),
  });
}

Napi::Object LinkHandle::New(Napi::Env env, bpf_link* link, Napi::Object owner) {
  Addon* addon = Addon::Get(env);
  // Owned from here on: if construction throws, the link is destroyed.
  Napi::Object handle;
  try {
    handle = addon->link_ctor.New({owner, Napi::External<bpf_link>::New(env, link)});
  } catch (...) {
    bpf_link__destroy(link);
    throw;
  }
  return handle;
}

Napi::Object LinkHandle::NewFromFd(Napi::Env env, int fd, Napi::Value owner) {
  Napi::Object handle;
  try {
    handle = Addon::Get(env)->link_ctor.New({owner, Napi::External<bpf_link>::New(env, nullptr), Napi::Number::New(env, fd)});
  } catch (...) {
    close(fd);
    throw;
  }
  return handle;
}

Napi::Object LinkHandle::NewFromAttachment(Napi::Env env, std::unique_ptr<Attachment> attachment, Napi::Object owner) {
  // Until the handle exists, `attachment` owns the attachment (and detaches it if New throws).
  Napi::Object handle = Addon::Get(env)->link_ctor.New({owner, Napi::External<bpf_link>::New(env, nullptr), Napi::Number::New(env, -1)});
  Unwrap(handle)->attachment_ = std::move(attachment);
  return handle;
}

// Only constructed by LinkHandle::New / NewFromFd / NewFromAttachment: (owner ObjectHandle,
// External<bpf_link>, fd?), or (null, External(nullptr), fd) for a link opened by id.
LinkHandle::LinkHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LinkHandle>(info) {
  Napi::Env env = info.Env();
  bool owned = IsObjectHandle(env, info[0]);
  if (info.Length() < 2 || !(owned || info[0].IsNull()) || !info[1].IsExternal()) {
    ThrowTypeError(env, "LinkHandle is created by attach()");
  }
  link_ = info[1].As<Napi::External<bpf_link>>().Data();
  if (link_ == nullptr) {
    if (!info[2].IsNumber()) ThrowTypeError(env, "LinkHandle is created by attach()");
    fd_ = info[2].As<Napi::Number>().Int32Value();
  }
  if (!owned && link_ != nullptr) ThrowTypeError(env, "LinkHandle is created by attach()");
  if (owned) {
    object_ = ObjectHandle::Unwrap(info[0].As<Napi::Object>());
    owner_ = Napi::Persistent(info[0].As<Napi::Object>());
    object_->TrackLink(this);
  }
  Tag(env, info.This(), Kind::Link);
  addon_ = Addon::Get(env);
  addon_->TrackLink(this);
}

LinkHandle::~LinkHandle() { Release(); }

void LinkHandle::Release() {
  if (link_ != nullptr) {
    bpf_link__destroy(link_);
    link_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  attachment_.reset();
  if (object_ != nullptr) {
    object_->UntrackLink(this);
    object_ = nullptr;
  }
  if (addon_ != nullptr) {
    addon_->UntrackLink(this);
    addon_ = nullptr;
  }
}

Napi::Value LinkHandle::Destroy(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

int LinkHandle::RequireFd(Napi::Env env, const char* operation) {
  if (link_ != nullptr) return bpf_link__fd(link_);
  if (fd_ >= 0) return fd_;
  if (attachment_) {
    ThrowBpfError(env, operation, EOPNOTSUPP,
                  std::string("this ") + attachment_->Type() +
                      " attachment is not a BPF link: it has no fd and cannot be pinned (socket filters, "
                      "clsact tc filters and XDP set through netlink are not links)");
  }
  ThrowBpfError(env, operation, EBADF, "the link is closed");
}

Napi::Value LinkHandle::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), RequireFd(info.Env(), "link.fd"));
}

Napi::Value LinkHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), link_ == nullptr && fd_ < 0 && !attachment_);
}

// info() -> { id, type (libbpf's name), programId, target, ... } (see system.cc); id 0 and
// the attachment's kind for attachments that are not links.
Napi::Value LinkHandle::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (attachment_) {
    bpf_prog_info prog_info{};
    __u32 len = sizeof(prog_info);
    Check(env, bpf_obj_get_info_by_fd(attachment_->ProgramFd(), &prog_info, &len), "link.info");
    Napi::Object out = Napi::Object::New(env);
    out.Set("id", 0);
    out.Set("type", attachment_->Type());
    out.Set("programId", prog_info.id);
    return out;
  }
  return LinkInfoObject(env, RequireFd(env, "link.info"), "link.info");
}

// pin(path): the link (and its program) stays attached after this process closes it.
Napi::Value LinkHandle::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = GetString(env, info[0], "pin path");
  int fd = RequireFd(env, "link.pin");
  LogCapture log;
  if (link_ != nullptr) {
    Check(env, bpf_link__pin(link_, path.c_str()), "link.pin", path, &log);
  } else {
    Check(env, bpf_obj_pin(fd, path.c_str()), "link.pin", path);
  }
  return env.Undefined();
}

Napi::Value LinkHandle::Unpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireFd(env, "link.unpin");
  if (link_ != nullptr && info[0].IsUndefined()) {
    Check(env, bpf_link__unpin(link_), "link.unpin");
  } else {
    std::string path = GetString(env, info[0], "pin path");
    CheckOnBpffs(env, path, "link.unpin");
    if (unlink(path.c_str()) < 0) ThrowBpfError(env, "link.unpin", errno, path);
  }
  return env.Undefined();
}

// update(programFd): atomically replace the attached program (where the link type allows).
Napi::Value LinkHandle::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = static_cast<int>(GetUint32(env, info[0], "program fd"));
  if (attachment_) {
    Check(env, attachment_->Replace(prog_fd), "link.update", std::string("the ") + attachment_->Type() + " attachment");
    return env.Undefined();
  }
  Check(env, bpf_link_update(RequireFd(env, "link.update"), prog_fd, nullptr), "link.update");
  return env.Undefined();
}

// forceDetach(): BPF_LINK_DETACH, the program leaves its hook even while other fds or pins
// hold the link (cgroup, netns, XDP, tcx, netfilter... links; others refuse, EOPNOTSUPP).
Napi::Value LinkHandle::ForceDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, bpf_link_detach(RequireFd(env, "link.detach")), "link.detach");
  return env.Undefined();
}

// readIter() -> the whole output of one pass of an iterator link (bpf_iter_create + read).
Napi::Value LinkHandle::ReadIter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int iter = bpf_iter_create(RequireFd(env, "link.read"));
  if (iter < 0) ThrowBpfError(env, "link.read", -iter, "bpf_iter_create");
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = read(iter, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(iter);
      ThrowBpfError(env, "link.read", err, "reading the iterator");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(iter);
  return Napi::String::New(env, out);
}

// openIter() -> the fd of a new run of the iterator, for the caller to read (and close).
Napi::Value LinkHandle::OpenIter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int iter = bpf_iter_create(RequireFd(env, "link.stream"));
  if (iter < 0) ThrowBpfError(env, "link.stream", -iter, "bpf_iter_create");
  return Napi::Number::New(env, iter);
}

}  // namespace ebpf
