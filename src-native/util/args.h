// Argument helpers: every length is checked before anything is copied.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ebpf {

struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// A Buffer, any TypedArray, a DataView or an ArrayBuffer, as a byte range. A detached
// ArrayBuffer is a TypeError.
Bytes GetBytes(Napi::Env env, const Napi::Value& value, const char* what);

// Same, and its length must be exactly `expected` bytes.
Bytes GetBytesOfSize(Napi::Env env, const Napi::Value& value, size_t expected, const char* what);

std::string GetString(Napi::Env env, const Napi::Value& value, const char* what);

uint32_t GetUint32(Napi::Env env, const Napi::Value& value, const char* what);

// An optional bigint from 0 to 2^64-1 (undefined: 0), e.g. a BPF cookie.
uint64_t GetOptionalUint64(Napi::Env env, const Napi::Value& value, const char* what);

// An optional array of strings (undefined: empty), e.g. symbol names.
std::vector<std::string> GetOptionalStringList(Napi::Env env, const Napi::Value& value, const char* what);

// An optional array of integers from 0 to 2^64-1, each a bigint or a safe integer
// number (undefined: empty), e.g. cookies or file offsets.
std::vector<uint64_t> GetOptionalUint64List(Napi::Env env, const Napi::Value& value, const char* what);

// unpin() removes a file: only one on a BPF file system (bpffs), never a file elsewhere
// that a wrong path names. A BpfError (EINVAL, or the errno of statfs) otherwise.
void CheckOnBpffs(Napi::Env env, const std::string& path, const char* operation);

}  // namespace ebpf
