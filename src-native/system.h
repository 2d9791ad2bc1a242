// The system's BPF objects, whoever loaded them: programs, maps and links listed by id
// (what `bpftool prog/map/link show` shows), and maps, links and programs' info opened by
// id. Listing and opening by id need CAP_SYS_ADMIN; describing an fd this process holds
// needs nothing more.
#pragma once

#include <napi.h>

#include <string>

namespace ebpf {

// The kernel's view of the program / map / link behind `fd`, as a plain object.
Napi::Object ProgramInfoObject(Napi::Env env, int fd, const std::string& operation);
Napi::Object MapInfoObject(Napi::Env env, int fd, const std::string& operation);
Napi::Object LinkInfoObject(Napi::Env env, int fd, const std::string& operation);

// listPrograms() / listMaps() / listLinks() -> the info of every one in the kernel.
Napi::Value ListPrograms(const Napi::CallbackInfo& info);
Napi::Value ListMaps(const Napi::CallbackInfo& info);
Napi::Value ListLinks(const Napi::CallbackInfo& info);
// programInfoById(id) -> the info of one program
Napi::Value ProgramInfoById(const Napi::CallbackInfo& info);
// openMapById(id) -> MapHandle (standalone, as from a pin)
Napi::Value OpenMapById(const Napi::CallbackInfo& info);
// openLinkById(id) -> LinkHandle (no object; closing it drops this process's reference)
Napi::Value OpenLinkById(const Napi::CallbackInfo& info);
// interfaceIndex(name | index) -> the interface's index here, 0 when there is no such one
Napi::Value InterfaceIndex(const Napi::CallbackInfo& info);
// openPinnedLink(path) -> LinkHandle of the link pinned there (no object, as by id)
Napi::Value OpenPinnedLink(const Napi::CallbackInfo& info);

}  // namespace ebpf
