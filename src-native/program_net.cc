// The networking attach calls of ProgramHandle: socket filters, sk_lookup on a network
// namespace, netfilter hooks, tc on a clsact qdisc, XDP through netlink (replacing what is
// there), cgroup programs with an explicit attach type.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "attachment.h"
#include "link.h"
#include "program.h"
#include "util/args.h"
#include "util/errors.h"
#include "util/log.h"

#ifndef BPF_F_NETFILTER_IP_DEFRAG
#define BPF_F_NETFILTER_IP_DEFRAG (1U << 0)
#endif

namespace ebpf {
namespace {

const char* kNotLoaded = "' is not loaded; await load() first";

// An fd opened for the call only.
UniqueFd OpenOrThrow(Napi::Env env, const char* operation, const std::string& path, int flags, const char* what) {
  UniqueFd fd(open(path.c_str(), flags | O_CLOEXEC));
  if (fd.Get() < 0) ThrowBpfError(env, operation, errno, std::string("no ") + what + " at " + path);
  return fd;
}

}  // namespace

int ProgramHandle::LoadedFd(Napi::Env env, const char* operation) {
  int fd = bpf_program__fd(Require(env, operation));
  if (fd < 0) ThrowBpfError(env, operation, EBADF, "program '" + name_ + kNotLoaded);
  return fd;
}

Napi::Value ProgramHandle::Attached(Napi::Env env, const char* operation, int err, std::unique_ptr<Attachment> attachment,
                                    const std::string& target, const LogCapture& log) {
  if (err < 0) ThrowBpfError(env, operation, -err, "program '" + name_ + "' to " + target, &log);
  return LinkHandle::NewFromAttachment(env, std::move(attachment), owner_.Value());
}

// attachSocketFilter(fd): SO_ATTACH_BPF on a socket of this process.
Napi::Value ProgramHandle::AttachSocketFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = static_cast<int>(GetUint32(env, info[0], "socket fd"));
  int prog_fd = LoadedFd(env, "attachSocketFilter");
  std::unique_ptr<Attachment> attachment;
  LogCapture log;  // libbpf prints the kernel's netlink error messages
  int err = ebpf::AttachSocketFilter(sock, prog_fd, &attachment);
  return Attached(env, "attachSocketFilter", err, std::move(attachment), "socket fd " + std::to_string(sock), log);
}

// attachSkLookup(netnsPath): an sk_lookup program on the network namespace at that path.
Napi::Value ProgramHandle::AttachSkLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = GetString(env, info[0], "network namespace path");
  Require(env, "attachSkLookup");
  UniqueFd ns = OpenOrThrow(env, "attachSkLookup", path, O_RDONLY, "network namespace");
  if (ioctl(ns.Get(), NS_GET_NSTYPE) != CLONE_NEWNET) {
    ThrowBpfError(env, "attachSkLookup", EINVAL, path + " is not a network namespace (/proc/PID/ns/net, /var/run/netns/NAME)");
  }
  return AttachWith(env, "attachSkLookup", "network namespace " + path,
                    [&](bpf_program* p) { return bpf_program__attach_netns(p, ns.Get()); });
}

// attachNetfilter(family, hook, priority, defrag): a netfilter hook of this thread's
// network namespace. family: "ipv4" | "ipv6"; hook: "prerouting" ... "postrouting".
Napi::Value ProgramHandle::AttachNetfilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string family = GetString(env, info[0], "protocolFamily");
  std::string hook = GetString(env, info[1], "hook");
  if (!info[2].IsNumber()) ThrowTypeError(env, "priority must be an integer");
  int32_t priority = info[2].As<Napi::Number>().Int32Value();
  bool defrag = info[3].ToBoolean().Value();
  uint32_t pf = family == "ipv4" ? NFPROTO_IPV4 : family == "ipv6" ? NFPROTO_IPV6 : 0;
  if (pf == 0) ThrowTypeError(env, "protocolFamily must be 'ipv4' or 'ipv6', got '" + family + "'");
  const std::pair<const char*, nf_inet_hooks> hooks[] = {
      {"prerouting", NF_INET_PRE_ROUTING}, {"input", NF_INET_LOCAL_IN},        {"forward", NF_INET_FORWARD},
      {"output", NF_INET_LOCAL_OUT},       {"postrouting", NF_INET_POST_ROUTING},
  };
  int hooknum = -1;
  for (const auto& h : hooks) {
    if (hook == h.first) hooknum = h.second;
  }
  if (hooknum < 0) ThrowTypeError(env, "hook must be 'prerouting', 'input', 'forward', 'output' or 'postrouting', got '" + hook + "'");
  std::string target = "netfilter " + family + " " + hook + " priority " + std::to_string(priority);
#if LIBBPF_MAJOR_VERSION > 1 || (LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION >= 3)
  bpf_netfilter_opts opts;
  Zeroed(&opts)->pf = pf;
  opts.hooknum = static_cast<uint32_t>(hooknum);
  opts.priority = priority;
  opts.flags = defrag ? BPF_F_NETFILTER_IP_DEFRAG : 0;
  return AttachWith(env, "attachNetfilter", target, [&](bpf_program* p) { return bpf_program__attach_netfilter(p, &opts); });
#else
  Require(env, "attachNetfilter");
  ThrowNeedsLibbpf(env, "attachNetfilter", target, "netfilter links", "1.3");
#endif
}

// attachTcClsact(ifindex, egress, priority): a direct-action tc filter on the interface's
// clsact qdisc (made when missing).
Napi::Value ProgramHandle::AttachTcClsact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = GetUint32(env, info[0], "ifindex");
  bool egress = info[1].ToBoolean().Value();
  uint32_t priority = GetUint32(env, info[2], "priority");
  int prog_fd = LoadedFd(env, "attachTc");
  std::unique_ptr<Attachment> attachment;
  LogCapture log;  // libbpf prints the kernel's netlink error messages
  int err = AttachClsact(static_cast<int>(ifindex), egress, priority, prog_fd, &attachment);
  std::string target = std::string("clsact ") + (egress ? "egress" : "ingress") + " of ifindex " + std::to_string(ifindex);
  // The kernel's "Specified qdisc kind is unknown" / "filter kind does not exist".
  if (err == -ENOENT) target += ": this kernel has no clsact qdisc or no BPF classifier (CONFIG_NET_SCH_INGRESS and CONFIG_NET_CLS_BPF; modules sch_ingress and cls_bpf)";
  return Attached(env, "attachTc", err, std::move(attachment), target, log);
}

// attachXdpReplace(ifindex, flags): XDP through netlink, atomically replacing the program
// attached there now (by another tool, say), or attaching when there is none.
Napi::Value ProgramHandle::AttachXdpReplace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = GetUint32(env, info[0], "ifindex");
  uint32_t flags = GetUint32(env, info[1], "flags");
  int prog_fd = LoadedFd(env, "attachXdp");
  std::unique_ptr<Attachment> attachment;
  LogCapture log;  // libbpf prints the kernel's netlink error messages
  uint32_t old_id = 0;
  int err = AttachXdpNetlink(static_cast<int>(ifindex), flags, prog_fd, &old_id, &attachment);
  std::string target = "XDP of ifindex " + std::to_string(ifindex) + " through netlink";
  if (err == -EBUSY) target += ": its XDP program is held by a BPF link, which only its owner can replace (link.update())";
  if (err == -EEXIST) target += ": the program attached there changed meanwhile, or is attached in another mode (pass mode)";
  if (err < 0 && old_id != 0) target += " (replacing program id " + std::to_string(old_id) + ")";
  return Attached(env, "attachXdp", err, std::move(attachment), target, log);
}

}  // namespace ebpf
