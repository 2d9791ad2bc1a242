// BTF, described to JavaScript: every type of a BTF (an object's, or the kernel's) as a
// plain object, for the TypeScript codecs to compile (lib/btf/). Kinds are the kernel's
// BTF_KIND_* numbers.
#pragma once

#include <bpf/btf.h>
#include <napi.h>

namespace ebpf {

// Index i holds type id i (index 0, the void type, is null).
Napi::Array DescribeBtf(Napi::Env env, const btf* types);

}  // namespace ebpf
