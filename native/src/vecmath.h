// Vectorised exp / erf on kVL-float vectors (accurate to a few ulp / ~2e-7 abs).
#pragma once
#include "vec.h"

namespace dn {

// e^r for |r| <= ln(2)/2 (Cephes' expf polynomial): the reduced argument of vexp and vexp_nonpos.
inline vf exp_poly(vf r) {
  vf p = vset1(1.9875691500E-4f);
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  return p * (r * r) + r + 1.0f;
}

// Cephes-style expf: 2^n * p(r), r = x - n ln2 in [-ln2/2, ln2/2]. exp(x < -87.3) = 0.
inline vf vexp(vf x) {
  const vf hi = vset1(88.3762626647949f), lo = vset1(-87.3365478515625f);
  const vi under = x < lo;
  x = vmin(vmax(x, lo), hi);
  const vf magic = vset1(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  vf n = (x * 1.44269504088896341f + magic) - magic;
  vf r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const vf p = exp_poly(r);
  vi e = __builtin_convertvector(n, vi);
  // n can be 128 at the top of the range: split the scale in two factors.
  vi e1 = e >> 1, e2 = e - e1;
  vf s1 = (vf)((e1 + 127) << 23), s2 = (vf)((e2 + 127) << 23);
  vf y = p * s1 * s2;
  return under ? vzero() : y;
}

// exp(x) for x <= 0 (softmax after subtracting the row maximum; -inf gives 0): vexp without the overflow side.
inline vf vexp_nonpos(vf x) {
  const vf lo = vset1(-87.3365478515625f);
  const vi under = x < lo;
  x = vmax(x, lo);
  const vf magic = vset1(12582912.0f);
  vf n = (x * 1.44269504088896341f + magic) - magic;
  vf r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const vf p = exp_poly(r);
  const vi e = __builtin_convertvector(n, vi);
  const vf y = p * (vf)((e + 127) << 23);
  return under ? vzero() : y;
}

// erf: odd rational approximation on [-4, 4] (|erf| rounds to 1 outside).
inline vf verf(vf x) {
  x = vmin(vmax(x, vset1(-4.0f)), vset1(4.0f));
  const vf x2 = x * x;
  vf p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  p = p * x;
  vf q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return p / q;
}

// Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), and its derivative Phi(x) + x phi(x).
inline vf vgelu(vf x) { return 0.5f * x * (1.0f + verf(x * 0.70710678118654752f)); }
inline vf vgelu_deriv(vf x) {
  const vf cdf = 0.5f * (1.0f + verf(x * 0.70710678118654752f));
  const vf pdf = vexp(-0.5f * x * x) * 0.39894228040143268f;
  return cdf + x * pdf;
}

}  // namespace dn
