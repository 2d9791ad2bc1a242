#include "btf.h"

#include <string>

namespace ebpf {
namespace {

std::string NameOf(const btf* types, __u32 name_off) {
  const char* name = btf__name_by_offset(types, name_off);
  return name != nullptr ? name : "";
}

Napi::Object Describe(Napi::Env env, const btf* types, const btf_type* t) {
  Napi::Object d = Napi::Object::New(env);
  __u16 kind = btf_kind(t);
  d.Set("kind", kind);
  d.Set("name", NameOf(types, t->name_off));
  switch (kind) {
    case BTF_KIND_INT: {
      __u32 info = *reinterpret_cast<const __u32*>(t + 1);
      d.Set("size", t->size);
      d.Set("encoding", BTF_INT_ENCODING(info));
      d.Set("bits", BTF_INT_BITS(info));
      d.Set("bitOffset", BTF_INT_OFFSET(info));
      break;
    }
    case BTF_KIND_FLOAT:
      d.Set("size", t->size);
      break;
    case BTF_KIND_PTR:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_TYPE_TAG:
    case BTF_KIND_FUNC:
      d.Set("type", t->type);
      break;
    case BTF_KIND_VAR:
      d.Set("type", t->type);
      d.Set("linkage", btf_var(t)->linkage);
      break;
    case BTF_KIND_ARRAY: {
      const struct btf_array* a = btf_array(t);
      d.Set("type", a->type);
      d.Set("indexType", a->index_type);
      d.Set("length", a->nelems);
      break;
    }
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION: {
      d.Set("size", t->size);
      Napi::Array members = Napi::Array::New(env, btf_vlen(t));
      const btf_member* m = btf_members(t);
      for (__u16 i = 0; i < btf_vlen(t); i++) {
        Napi::Object member = Napi::Object::New(env);
        member.Set("name", NameOf(types, m[i].name_off));
        member.Set("type", m[i].type);
        member.Set("bitOffset", btf_member_bit_offset(t, i));
        member.Set("bitSize", btf_member_bitfield_size(t, i));
        members.Set(i, member);
      }
      d.Set("members", members);
      break;
    }
    case BTF_KIND_ENUM: {
      d.Set("size", t->size);
      d.Set("signed", btf_kflag(t));
      Napi::Array values = Napi::Array::New(env, btf_vlen(t));
      const struct btf_enum* e = btf_enum(t);
      for (__u16 i = 0; i < btf_vlen(t); i++) {
        Napi::Object v = Napi::Object::New(env);
        v.Set("name", NameOf(types, e[i].name_off));
        v.Set("value", btf_kflag(t) ? static_cast<double>(e[i].val) : static_cast<double>(static_cast<__u32>(e[i].val)));
        values.Set(i, v);
      }
      d.Set("values", values);
      break;
    }
    case BTF_KIND_ENUM64: {
      d.Set("size", t->size);
      d.Set("signed", btf_kflag(t));
      Napi::Array values = Napi::Array::New(env, btf_vlen(t));
      const struct btf_enum64* e = btf_enum64(t);
      for (__u16 i = 0; i < btf_vlen(t); i++) {
        Napi::Object v = Napi::Object::New(env);
        v.Set("name", NameOf(types, e[i].name_off));
        __u64 raw = btf_enum64_value(&e[i]);
        v.Set("value", btf_kflag(t) ? Napi::BigInt::New(env, static_cast<int64_t>(raw)) : Napi::BigInt::New(env, static_cast<uint64_t>(raw)));
        values.Set(i, v);
      }
      d.Set("values", values);
      break;
    }
    case BTF_KIND_DATASEC: {
      d.Set("size", t->size);
      Napi::Array vars = Napi::Array::New(env, btf_vlen(t));
      const btf_var_secinfo* v = btf_var_secinfos(t);
      for (__u16 i = 0; i < btf_vlen(t); i++) {
        Napi::Object var = Napi::Object::New(env);
        var.Set("type", v[i].type);
        var.Set("offset", v[i].offset);
        var.Set("size", v[i].size);
        vars.Set(i, var);
      }
      d.Set("vars", vars);
      break;
    }
    case BTF_KIND_FWD:
      d.Set("union", btf_kflag(t));
      break;
    default:
      break;  // FUNC_PROTO, DECL_TAG: not value types
  }
  return d;
}

}  // namespace

Napi::Array DescribeBtf(Napi::Env env, const btf* types) {
  __u32 count = btf__type_cnt(types);
  Napi::Array out = Napi::Array::New(env, count);
  out.Set(0u, env.Null());
  for (__u32 id = 1; id < count; id++) out.Set(id, Describe(env, types, btf__type_by_id(types, id)));
  return out;
}

}  // namespace ebpf
