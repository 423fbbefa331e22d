#include "common.h"

/* Dyadic quantiser (the identity encoder MBE_Id in closed form, mbe/ops/primitives.py):
 *   q = clamp(floor((x - lo) * inv), 0, span),  out = beta * (q + m)  (float64, exact)
 * with inv = 1 / beta a power of two; idx_out gets q (-1 for NaN). `Quantiser`
 * (mbe/native/tables.py) uses it only after checking that it equals the encoder's staircase
 * at every break. */
#define DEFINE_SCALAR_QUANTISE(SUFFIX, REAL)                                                    \
    static void scalar_quantise_##SUFFIX(const REAL *x, int64_t from, int64_t to, double lo,   \
                                         double inv, double span, double beta, double m,       \
                                         double *out, int32_t *idx_out, REAL dlo, REAL dhi,    \
                                         stats_t *s) {                                          \
        for (int64_t i = from; i < to; i++) {                                                   \
            const REAL xi = x[i];                                                               \
            SKIP_NAN_INPUT(i, xi);                                                              \
            double q = floor(((double)xi - lo) * inv);                                          \
            if (!(q > 0.0)) q = 0.0;                                                            \
            if (q > span) q = span;                                                             \
            out[i] = beta * (q + m);                                                            \
            if (idx_out) idx_out[i] = (int32_t)q;                                               \
        }                                                                                       \
    }

DEFINE_SCALAR_QUANTISE(f32, float)
DEFINE_SCALAR_QUANTISE(f64, double)

#ifdef MBE_X86
__attribute__((target("avx512f")))
static void simd_quantise_f32(const float *x, int64_t blocks, double lo, double inv,
                              double span, double beta, double m, double *out,
                              int32_t *idx_out, float dlo, float dhi, stats_t *total,
                              int nthreads) {
    VSTATS_PARALLEL
    {
        const __m512d vlo = _mm512_set1_pd(lo), vinv = _mm512_set1_pd(inv);
        const __m512d zero = _mm512_setzero_pd(), vspan = _mm512_set1_pd(span);
        const __m512d vbeta = _mm512_set1_pd(beta), vm = _mm512_set1_pd(m);
        const __m512d dnan = _mm512_set1_pd(NAN);
        const __m512i minus1 = _mm512_set1_epi32(-1);
        vstats_t st = vstats_start(dlo, dhi);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; b++) {
            const __m512 xv = _mm512_loadu_ps(x + 16 * b);
            __m256i qi[2];
            __mmask16 nan = 0;
            for (int h = 0; h < 2; h++) {
                const __m256 xh = h ? _mm256_castpd_ps(_mm512_extractf64x4_pd(
                                          _mm512_castps_pd(xv), 1))
                                    : _mm512_castps512_ps256(xv);
                const __m512d xd = _mm512_cvtps_pd(xh);
                const __mmask8 nh = _mm512_cmp_pd_mask(xd, xd, _CMP_UNORD_Q);
                __m512d q = _mm512_roundscale_pd(_mm512_mul_pd(_mm512_sub_pd(xd, vlo), vinv),
                                                 _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
                q = _mm512_min_pd(_mm512_max_pd(q, zero), vspan);
                const __m512d r = _mm512_mul_pd(vbeta, _mm512_add_pd(q, vm));
                _mm512_storeu_pd(out + 16 * b + 8 * h, _mm512_mask_blend_pd(nh, r, dnan));
                qi[h] = _mm512_cvttpd_epi32(q);
                nan |= (__mmask16)((unsigned)nh << (8 * h));
            }
            if (idx_out) {
                const __m512i q16 = _mm512_inserti64x4(_mm512_castsi256_si512(qi[0]), qi[1], 1);
                _mm512_storeu_si512(idx_out + 16 * b, _mm512_mask_blend_epi32(nan, q16, minus1));
            }
            vstats_add(&st, xv);
        }
        VSTATS_REDUCE(st, ps, epi32);
    }
    VSTATS_MERGE(total);
}

/* The AVX2 form for CPUs without AVX-512: the scalar's float64 operations, 4 lanes at a time
 * (floor by rounding towards -inf; max with 0 maps a NaN q to 0 as the scalar test does). */
__attribute__((target("avx2")))
static void avx2_quantise_f32(const float *x, int64_t blocks, double lo, double inv,
                              double span, double beta, double m, double *out,
                              int32_t *idx_out, float dlo, float dhi, stats_t *total,
                              int nthreads) {
    VSTATS_PARALLEL
    {
        const __m256d vlo = _mm256_set1_pd(lo), vinv = _mm256_set1_pd(inv);
        const __m256d zero = _mm256_setzero_pd(), vspan = _mm256_set1_pd(span);
        const __m256d vbeta = _mm256_set1_pd(beta), vm = _mm256_set1_pd(m);
        const __m256d dnan = _mm256_set1_pd(NAN);
        vstats8_t st = vstats8_start(dlo, dhi);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; b++) {
            const __m256 xv = _mm256_loadu_ps(x + 8 * b);
            for (int h = 0; h < 2; h++) {
                const __m256d xd = _mm256_cvtps_pd(h ? _mm256_extractf128_ps(xv, 1)
                                                     : _mm256_castps256_ps128(xv));
                const __m256d nan = _mm256_cmp_pd(xd, xd, _CMP_UNORD_Q);
                __m256d q = _mm256_round_pd(_mm256_mul_pd(_mm256_sub_pd(xd, vlo), vinv),
                                            _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
                q = _mm256_min_pd(_mm256_max_pd(q, zero), vspan);
                const __m256d r = _mm256_mul_pd(vbeta, _mm256_add_pd(q, vm));
                _mm256_storeu_pd(out + 8 * b + 4 * h, _mm256_blendv_pd(r, dnan, nan));
                if (idx_out) { /* q, or -1 (all ones) where x is NaN */
                    const __m128i nan4 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
                        _mm256_castpd_si256(nan), _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0)));
                    _mm_storeu_si128((__m128i *)(idx_out + 8 * b + 4 * h),
                                     _mm_or_si128(_mm256_cvttpd_epi32(q), nan4));
                }
            }
            vstats8_add(&st, xv);
        }
        vstats8_reduce(&st, &mn, &mx, &outside, &nonfinite);
    }
    VSTATS_MERGE(total);
}
#endif

#define DEFINE_QUANTISE(SUFFIX, REAL, SIMD_BLOCK)                                               \
    void quantise_##SUFFIX(const REAL *x, int64_t n, double lo, double inv, double span,       \
                           double beta, double m, double *out, int32_t *idx_out, REAL dlo,     \
                           REAL dhi, double *stats, int nthreads, int simd) {                  \
        stats_t total = EMPTY_STATS;                                                            \
        int64_t done = 0;                                                                       \
        SIMD_BLOCK                                                                              \
        SCALAR_REST(scalar_quantise_##SUFFIX(xs, from, to, lo, inv, span, beta, m, os, is,    \
                                             dlo, dhi, &s));                                    \
        put(stats, &total);                                                                     \
    }

#ifdef MBE_X86
#define Q32_SIMD                                                                                \
    if (use_avx512(simd) && n >= 16) {                                                          \
        const int64_t blocks = n / 16;                                                          \
        simd_quantise_f32(x, blocks, lo, inv, span, beta, m, out, idx_out, dlo, dhi, &total,   \
                          nthreads);                                                            \
        done = 16 * blocks;                                                                     \
    } else if (use_avx2(simd) && n >= 8) {                                                      \
        const int64_t blocks = n / 8;                                                           \
        avx2_quantise_f32(x, blocks, lo, inv, span, beta, m, out, idx_out, dlo, dhi, &total,   \
                          nthreads);                                                            \
        done = 8 * blocks;                                                                      \
    }
#else
#define Q32_SIMD (void)simd;
#endif

DEFINE_QUANTISE(f32, float, Q32_SIMD)
DEFINE_QUANTISE(f64, double, (void)simd;)
