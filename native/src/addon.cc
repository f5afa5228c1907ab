// N-API surface. Every kernel takes `heap`, a Float32Array over the whole wasm
// memory (ArrayBuffer or SharedArrayBuffer), and byte offsets of the tensors in
// it (tfjs-backend-wasm `memoryOffset`s): the native code reads inputs and
// writes outputs in place, no copies. Offsets and extents are bounds-checked, and every size product is
// overflow-checked first: a product that wraps would pass the bounds check with a small extent.
#include <napi.h>

#include <cmath>
#include <string>

#include "gemm.h"
#include "kernels.h"
#include "precision.h"
#include "threadpool.h"
#include "vec.h"

namespace {

struct Args {
  const Napi::CallbackInfo& info;
  float* base = nullptr;
  size_t nfloats = 0;

  explicit Args(const Napi::CallbackInfo& i) : info(i) {
    if (info.Length() < 1 || !info[0].IsTypedArray())
      throw Napi::TypeError::New(info.Env(), "heap must be a Float32Array");
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t byteOffset;
    napi_status st = napi_get_typedarray_info(info.Env(), info[0], &type, &length, &data, &ab, &byteOffset);
    if (st != napi_ok || type != napi_float32_array)
      throw Napi::TypeError::New(info.Env(), "heap must be a Float32Array");
    base = static_cast<float*>(data);
    nfloats = length;
  }

  double num(size_t i) const {
    if (i >= info.Length() || !info[i].IsNumber())
      throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
    return info[i].As<Napi::Number>().DoubleValue();
  }
  int64_t i64(size_t i) const {
    const double v = num(i);
    if (v != std::floor(v) || std::fabs(v) > 9.0e15)
      throw Napi::RangeError::New(info.Env(), "argument " + std::to_string(i) + " must be an integer");
    return int64_t(v);
  }
  int dim(size_t i) const {
    const int64_t v = i64(i);
    if (v < 0 || v > 0x7fffffff) throw Napi::RangeError::New(info.Env(), "bad dimension");
    return int(v);
  }
  bool flag(size_t i) const { return num(i) != 0.0; }

  // Size arithmetic that throws RangeError instead of wrapping around.
  int64_t mul(int64_t x, int64_t y) const {
    int64_t r;
    if (__builtin_mul_overflow(x, y, &r)) throw Napi::RangeError::New(info.Env(), "size overflow");
    return r;
  }
  int64_t mul(int64_t x, int64_t y, int64_t z) const { return mul(mul(x, y), z); }
  int64_t mul(int64_t x, int64_t y, int64_t z, int64_t w) const { return mul(mul(x, y, z), w); }
  int64_t add(int64_t x, int64_t y) const {
    int64_t r;
    if (__builtin_add_overflow(x, y, &r)) throw Napi::RangeError::New(info.Env(), "size overflow");
    return r;
  }

  // Floats spanned by a rows x cols view with row stride ld, repeated over a batch with stride s.
  int64_t extent(int64_t batch, int64_t s, int64_t rows, int64_t cols, int64_t ld) const {
    if (batch == 0 || rows == 0 || cols == 0) return 0;
    return add(add(mul(batch - 1, s), mul(rows - 1, ld)), cols);
  }

  // Pointer for a byte offset whose tensor spans `extent` floats.
  float* ptr(size_t i, int64_t extent) const {
    const int64_t off = i64(i);
    if (off < 0 || off % 4 != 0) throw Napi::RangeError::New(info.Env(), "unaligned or negative offset");
    const int64_t first = off / 4;
    if (extent < 0 || uint64_t(add(first, extent)) > nfloats)
      throw Napi::RangeError::New(info.Env(), "tensor out of heap bounds");
    return base + first;
  }
};

// gemm(heap, batch, M, N, K, aOff, lda, transA, strideA, bOff, ldb, transB, strideB,
//      cOff, ldc, strideC, alpha, accumulate, biasOff (-1: none), biasLen, act, maxThreads)
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Args a(info);
  const int batch = a.dim(1);
  dn::GemmDesc d;
  d.M = a.dim(2);
  d.N = a.dim(3);
  d.K = a.dim(4);
  d.lda = a.i64(6);
  d.transA = a.flag(7);
  const int64_t sA = a.i64(8);
  d.ldb = a.i64(10);
  d.transB = a.flag(11);
  const int64_t sB = a.i64(12);
  d.ldc = a.i64(14);
  const int64_t sC = a.i64(15);
  if (d.lda < 0 || d.ldb < 0 || d.ldc < 0 || sA < 0 || sB < 0 || sC < 0)
    throw Napi::RangeError::New(info.Env(), "negative stride");
  d.A = a.ptr(5, a.extent(batch, sA, d.transA ? d.K : d.M, d.transA ? d.M : d.K, d.lda));
  d.B = a.ptr(9, a.extent(batch, sB, d.transB ? d.N : d.K, d.transB ? d.K : d.N, d.ldb));
  d.C = a.ptr(13, a.extent(batch, sC, d.M, d.N, d.ldc));
  d.alpha = float(a.num(16));
  d.accumulate = a.flag(17);
  d.biasLen = a.dim(19);
  if (a.i64(18) >= 0) {
    if (d.biasLen != 1 && d.biasLen != d.N) throw Napi::RangeError::New(info.Env(), "bias must have N or 1 elements");
    d.bias = a.ptr(18, d.biasLen);
  }
  d.act = a.dim(20);
  if (d.act != dn::kLinear && d.act != dn::kRelu) throw Napi::RangeError::New(info.Env(), "unsupported activation");
  const int maxThreads = info.Length() > 21 ? a.dim(21) : dn::pool_size();
  dn::gemm_batched(d, batch, sA, sB, sC, maxThreads < 1 ? 1 : maxThreads);
  return info.Env().Undefined();
}

// gelu(heap, xOff, yOff, n)
Napi::Value Gelu(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t n = a.i64(3);
  dn::gelu(a.ptr(1, n), a.ptr(2, n), n);
  return info.Env().Undefined();
}

// geluGrad(heap, dyOff, xOff, dxOff, n)
Napi::Value GeluGrad(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t n = a.i64(4);
  dn::gelu_grad(a.ptr(1, n), a.ptr(2, n), a.ptr(3, n), n);
  return info.Env().Undefined();
}

// layerNorm(heap, xOff, gammaOff, betaOff, yOff, meanOff, rstdOff, N, D, eps)
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t N = a.i64(7);
  const int D = a.dim(8);
  const int64_t ND = a.mul(N, D);
  dn::layer_norm(a.ptr(1, ND), a.ptr(2, D), a.ptr(3, D), a.ptr(4, ND), a.ptr(5, N), a.ptr(6, N), N, D,
                 float(a.num(9)));
  return info.Env().Undefined();
}

// layerNormGrad(heap, dyOff, xOff, gammaOff, meanOff, rstdOff, dxOff, dgammaOff, dbetaOff, N, D)
Napi::Value LayerNormGrad(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t N = a.i64(9);
  const int D = a.dim(10);
  const int64_t ND = a.mul(N, D);
  dn::layer_norm_grad(a.ptr(1, ND), a.ptr(2, ND), a.ptr(3, D), a.ptr(4, N), a.ptr(5, N), a.ptr(6, ND),
                      a.ptr(7, D), a.ptr(8, D), N, D);
  return info.Env().Undefined();
}

// attention(heap, qkvOff, outOff, probsOff, B, T, H, hd, scale)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t B = a.dim(4), T = a.dim(5), H = a.dim(6), hd = a.dim(7);
  const int64_t D = a.mul(H, hd);
  dn::attention(a.ptr(1, a.mul(B, T, 3, D)), a.ptr(2, a.mul(B, T, D)), a.ptr(3, a.mul(B, H, T, T)), int(B), int(T),
                int(H), int(hd), float(a.num(8)));
  return info.Env().Undefined();
}

// attentionGrad(heap, doutOff, qkvOff, probsOff, dqkvOff, B, T, H, hd, scale)
Napi::Value AttentionGrad(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t B = a.dim(5), T = a.dim(6), H = a.dim(7), hd = a.dim(8);
  const int64_t D = a.mul(H, hd);
  dn::attention_grad(a.ptr(1, a.mul(B, T, D)), a.ptr(2, a.mul(B, T, 3, D)), a.ptr(3, a.mul(B, H, T, T)),
                     a.ptr(4, a.mul(B, T, 3, D)), int(B), int(T), int(H), int(hd), float(a.num(9)));
  return info.Env().Undefined();
}

// adamw(heap, pOff, gOff, mOff, vOff, pOutOff, mOutOff, vOutOff, n, lr, beta1, beta2, eps, weightDecay, step
//       [, clip, teacherOff, teacherOutOff, momentum]): clip 0 = none, teacherOff -1 = no EMA
Napi::Value AdamW(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t n = a.i64(8);
  const double t = a.num(14);
  if (!(t >= 1)) throw Napi::RangeError::New(info.Env(), "adamw: step must be >= 1");
  dn::AdamWParams p;
  p.lr = float(a.num(9));
  p.beta1 = float(a.num(10));
  p.beta2 = float(a.num(11));
  p.eps = float(a.num(12));
  p.weightDecay = float(a.num(13));
  p.bc1 = float(1.0 - std::pow(double(p.beta1), t));
  p.bc2Sqrt = float(std::sqrt(1.0 - std::pow(double(p.beta2), t)));
  if (info.Length() > 15) p.clip = float(a.num(15));
  if (info.Length() > 18 && a.i64(16) >= 0) {
    p.teacher = a.ptr(16, n);
    p.teacherOut = a.ptr(17, n);
    p.momentum = float(a.num(18));
  }
  dn::adamw(a.ptr(1, n), a.ptr(2, n), a.ptr(3, n), a.ptr(4, n), a.ptr(5, n), a.ptr(6, n), a.ptr(7, n), n, p);
  return info.Env().Undefined();
}

// reduceSum(heap, xOff, yOff, outer, reduce, inner, scale)
Napi::Value ReduceSum(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t outer = a.i64(3), reduce = a.i64(4), inner = a.i64(5);
  if (outer < 0 || reduce < 0 || inner < 0) throw Napi::RangeError::New(info.Env(), "bad reduce shape");
  // both products checked: with reduce = 0 the input's is 0 whatever the output's
  const int64_t nx = a.mul(outer, reduce, inner), ny = a.mul(outer, inner);
  dn::reduce_sum(a.ptr(1, nx), a.ptr(2, ny), outer, reduce, inner, float(a.num(6)));
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "threads must be a number");
  dn::set_pool_size(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), dn::pool_size());
}

// setPrecision(0 fp32 | 1 bf16 (VDPBF16PS) | 2 bf16 emulated with fp32 FMAs) -> whether it was accepted
Napi::Value SetPrecision(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "precision must be a number");
  return Napi::Boolean::New(info.Env(), dn::set_precision(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value GetPrecision(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dn::precision()); }

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dn::pool_size()); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("gelu", Napi::Function::New(env, Gelu));
  exports.Set("geluGrad", Napi::Function::New(env, GeluGrad));
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm));
  exports.Set("layerNormGrad", Napi::Function::New(env, LayerNormGrad));
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("attentionGrad", Napi::Function::New(env, AttentionGrad));
  exports.Set("reduceSum", Napi::Function::New(env, ReduceSum));
  exports.Set("adamw", Napi::Function::New(env, AdamW));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("setPrecision", Napi::Function::New(env, SetPrecision));
  exports.Set("getPrecision", Napi::Function::New(env, GetPrecision));
  exports.Set("hasAvx512Bf16", Napi::Boolean::New(env, dn::cpu_has_avx512_bf16()));
#if defined(__AVX512F__)
  const char* isa = "avx512";
#elif defined(__AVX2__)
  const char* isa = "avx2";
#else
  const char* isa = "generic";
#endif
  exports.Set("isa", Napi::String::New(env, isa));
  exports.Set("vectorWidth", Napi::Number::New(env, dn::kVL));
  return exports;
}

}  // namespace

NODE_API_MODULE(dino_native, Init)
