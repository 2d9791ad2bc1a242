// Type tags on our wrapped objects, so that a handle passed where another kind is expected
// (ring buffer maps, a link's owner) is a TypeError, never a wrong cast.
#pragma once

#include <napi.h>

namespace ebpf {

enum class Kind { Object, Program, Map, Link, RingBuffer, PerfBuffer, FdWatcher };

void Tag(Napi::Env env, const Napi::Value& value, Kind kind);
bool HasTag(Napi::Env env, const Napi::Value& value, Kind kind);

inline bool IsObjectHandle(Napi::Env env, const Napi::Value& value) { return HasTag(env, value, Kind::Object); }
inline bool IsMapHandle(Napi::Env env, const Napi::Value& value) { return HasTag(env, value, Kind::Map); }

}  // namespace ebpf
