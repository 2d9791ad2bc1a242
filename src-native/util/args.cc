#include "args.h"

#include <cmath>

#include "errors.h"

namespace ebpf {

Bytes GetBytes(Napi::Env env, const Napi::Value& value, const char* what) {
  Bytes out;
  if (value.IsTypedArray()) {
    Napi::TypedArray array = value.As<Napi::TypedArray>();
    Napi::ArrayBuffer buffer = array.ArrayBuffer();
    if (buffer.IsDetached()) ThrowTypeError(env, std::string(what) + " is a detached buffer");
    out.data = static_cast<const uint8_t*>(buffer.Data()) + array.ByteOffset();
    out.size = array.ByteLength();
  } else if (value.IsDataView()) {
    Napi::DataView view = value.As<Napi::DataView>();
    Napi::ArrayBuffer buffer = view.ArrayBuffer();
    if (buffer.IsDetached()) ThrowTypeError(env, std::string(what) + " is a detached buffer");
    out.data = static_cast<const uint8_t*>(buffer.Data()) + view.ByteOffset();
    out.size = view.ByteLength();
  } else if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer buffer = value.As<Napi::ArrayBuffer>();
    if (buffer.IsDetached()) ThrowTypeError(env, std::string(what) + " is a detached buffer");
    out.data = static_cast<const uint8_t*>(buffer.Data());
    out.size = buffer.ByteLength();
  } else {
    ThrowTypeError(env, std::string(what) + " must be a Buffer, Uint8Array or ArrayBuffer");
  }
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

}  // namespace ebpf
