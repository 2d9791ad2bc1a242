#include "type_tags.h"

namespace ebpf {
namespace {

const napi_type_tag& TagOf(Kind kind) {
  // Arbitrary, fixed 128-bit values: one per kind of handle.
  static const napi_type_tag tags[] = {
      {0x6562706630626a31ULL, 0x9d3c5a1e7f02b641ULL},  // Object
      {0x6562706670726f67ULL, 0x1b7e4c90d25a3f88ULL},  // Program
      {0x65627066006d6170ULL, 0xc4a1f0573e9b2d16ULL},  // Map
      {0x65627066006c6e6bULL, 0x58d02e7ab1c4f963ULL},  // Link
      {0x6562706672696e67ULL, 0xa7f3196c0e5d4b2aULL},  // RingBuffer
      {0x6562706670657266ULL, 0x3e81d5a20c7f6b94ULL},  // PerfBuffer
      {0x6562706666647761ULL, 0xd2094b7ae3615fc8ULL},  // FdWatcher
  };
  return tags[static_cast<int>(kind)];
}

}  // namespace

void Tag(Napi::Env env, const Napi::Value& value, Kind kind) {
  NAPI_THROW_IF_FAILED_VOID(env, napi_type_tag_object(env, value, &TagOf(kind)));
}

bool HasTag(Napi::Env env, const Napi::Value& value, Kind kind) {
  if (!value.IsObject()) return false;
  bool result = false;
  NAPI_THROW_IF_FAILED(env, napi_check_object_type_tag(env, value, &TagOf(kind), &result), false);
  return result;
}

}  // namespace ebpf
