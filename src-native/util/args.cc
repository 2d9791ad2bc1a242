#include "args.h"

#include <linux/magic.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cmath>

#include "errors.h"

namespace ebpf {

namespace {

// Views over a SharedArrayBuffer have no ArrayBuffer to ask for its data (Napi's
// ArrayBuffer::Data() fails on one): take the view's own pointer and length, which
// Node-API gives for both kinds. A view over a detached or shrunk (resizable) buffer has
// length 0 and no data.
void CheckNotDetached(Napi::Env env, napi_value buffer, const char* what) {
  bool is_arraybuffer = false, detached = false;
  if (napi_is_arraybuffer(env, buffer, &is_arraybuffer) == napi_ok && is_arraybuffer &&
      napi_is_detached_arraybuffer(env, buffer, &detached) == napi_ok && detached) {
    ThrowTypeError(env, std::string(what) + " is a detached buffer");
  }
}

size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 1;
  }
}

}  // namespace

Bytes GetBytes(Napi::Env env, const Napi::Value& value, const char* what) {
  Bytes out;
  void* data = nullptr;
  napi_value buffer = nullptr;
  if (value.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &offset), Bytes());
    CheckNotDetached(env, buffer, what);
    out.size = length * ElementSize(type);
  } else if (value.IsDataView()) {
    size_t length = 0, offset = 0;
    NAPI_THROW_IF_FAILED(env, napi_get_dataview_info(env, value, &length, &data, &buffer, &offset), Bytes());
    CheckNotDetached(env, buffer, what);
    out.size = length;
  } else if (value.IsArrayBuffer()) {
    CheckNotDetached(env, value, what);
    size_t length = 0;
    NAPI_THROW_IF_FAILED(env, napi_get_arraybuffer_info(env, value, &data, &length), Bytes());
    out.size = length;
  } else {
    ThrowTypeError(env, std::string(what) + " must be a Buffer, Uint8Array or ArrayBuffer");
  }
  // Empty: no pointer at all (a detached view's would be its old offset from null).
  out.data = out.size == 0 ? nullptr : static_cast<const uint8_t*>(data);
  if (out.data == nullptr && out.size != 0) ThrowTypeError(env, std::string(what) + " has no data");
  return out;
}

Bytes GetBytesOfSize(Napi::Env env, const Napi::Value& value, size_t expected, const char* what) {
  Bytes out = GetBytes(env, value, what);
  if (out.size != expected) {
    ThrowTypeError(env, std::string(what) + " must be " + std::to_string(expected) +
                            " bytes, got " + std::to_string(out.size));
  }
  return out;
}

std::string GetString(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsString()) ThrowTypeError(env, std::string(what) + " must be a string");
  std::string s = value.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) {
    ThrowTypeError(env, std::string(what) + " must not contain NUL characters");
  }
  return s;
}

uint32_t GetUint32(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) ThrowTypeError(env, std::string(what) + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 0 || d > 4294967295.0 || std::floor(d) != d) {
    ThrowTypeError(env, std::string(what) + " must be an integer from 0 to 2^32-1");
  }
  return static_cast<uint32_t>(d);
}

uint64_t GetOptionalUint64(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsBigInt()) return 0;
  bool lossless = true;
  uint64_t n = value.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) ThrowTypeError(env, std::string(what) + " must be a bigint from 0 to 2^64-1");
  return n;
}

std::vector<std::string> GetOptionalStringList(Napi::Env env, const Napi::Value& value, const char* what) {
  std::vector<std::string> out;
  if (value.IsUndefined()) return out;
  if (!value.IsArray()) ThrowTypeError(env, std::string(what) + " must be an array of strings");
  Napi::Array array = value.As<Napi::Array>();
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) out.push_back(GetString(env, array.Get(i), what));
  return out;
}

std::vector<uint64_t> GetOptionalUint64List(Napi::Env env, const Napi::Value& value, const char* what) {
  std::vector<uint64_t> out;
  if (value.IsUndefined()) return out;
  if (!value.IsArray()) ThrowTypeError(env, std::string(what) + " must be an array of integers");
  Napi::Array array = value.As<Napi::Array>();
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (item.IsBigInt()) {
      out.push_back(GetOptionalUint64(env, item, what));
      continue;
    }
    double d = item.IsNumber() ? item.As<Napi::Number>().DoubleValue() : -1;
    if (!std::isfinite(d) || d < 0 || d > 9007199254740991.0 || std::floor(d) != d) {
      ThrowTypeError(env, std::string(what) + " must hold integers from 0 to 2^64-1 (numbers or bigints)");
    }
    out.push_back(static_cast<uint64_t>(d));
  }
  return out;
}

void CheckOnBpffs(Napi::Env env, const std::string& path, const char* operation) {
  struct statfs fs {};
  if (statfs(path.c_str(), &fs) < 0) ThrowBpfError(env, operation, errno, path);
  if (static_cast<unsigned long>(fs.f_type) != static_cast<unsigned long>(BPF_FS_MAGIC)) {
    ThrowBpfError(env, operation, EINVAL, path + " is not on a BPF file system (bpffs): only pins are removed");
  }
}

}  // namespace ebpf
