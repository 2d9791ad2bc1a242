// The C map loops of bench/baseline.c, as a Node-API module the bench loads into its own
// process: the one-at-a-time reference taken in the same process, over the same map fd,
// in turn with each of ebpf's passes. Built by bench/run.ts against the static libbpf:
//   updateLoop(fd, ops)   updates keys 0..ops-1 (value = key, BPF_ANY) in one call
//   lookupLoop(fd, ops)   looks the same keys up in one call; returns the sum of the values
//   updateOne(fd, key)    one update per call: the least any binding does per operation
// Not part of the package: only the bench builds and loads it.
#include <bpf/bpf.h>
#include <node_api.h>
#include <stdint.h>

/* Reads the two int32 arguments (fd, n); false, with a JS exception pending, when they are not numbers. */
static int int_args(napi_env env, napi_callback_info info, int32_t out[2]) {
  napi_value argv[2];
  size_t argc = 2;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "map-loop: expected (fd, n)");
    return 0;
  }
  for (size_t i = 0; i < 2; i++) {
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "map-loop: arguments must be numbers");
      return 0;
    }
  }
  return 1;
}

static napi_value fail(napi_env env, const char *what) {
  napi_throw_error(env, NULL, what);
  return NULL;
}

static napi_value update_loop(napi_env env, napi_callback_info info) {
  int32_t a[2];
  if (!int_args(env, info, a)) return NULL;
  for (uint32_t k = 0; k < (uint32_t)a[1]; k++) {
    uint64_t v = k;
    if (bpf_map_update_elem(a[0], &k, &v, BPF_ANY)) return fail(env, "map-loop: update failed");
  }
  return NULL;
}

static napi_value lookup_loop(napi_env env, napi_callback_info info) {
  int32_t a[2];
  if (!int_args(env, info, a)) return NULL;
  double sum = 0;
  for (uint32_t k = 0; k < (uint32_t)a[1]; k++) {
    uint64_t v = 0;
    if (bpf_map_lookup_elem(a[0], &k, &v)) return fail(env, "map-loop: lookup failed");
    sum += (double)v;
  }
  napi_value out;
  napi_create_double(env, sum, &out);
  return out;
}

static napi_value update_one(napi_env env, napi_callback_info info) {
  int32_t a[2];
  if (!int_args(env, info, a)) return NULL;
  uint32_t k = (uint32_t)a[1];
  uint64_t v = k;
  if (bpf_map_update_elem(a[0], &k, &v, BPF_ANY)) return fail(env, "map-loop: update failed");
  return NULL;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor functions[] = {
      {"updateLoop", NULL, update_loop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lookupLoop", NULL, lookup_loop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"updateOne", NULL, update_one, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions) != napi_ok) return NULL;
  return exports;
}
