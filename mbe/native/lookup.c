/* Staircase lookups: x -> vals[idx(x)] by the bucketed index of common.h, scalar, AVX-512 and
 * AVX2 (mbe/native/tables.py `Table`). */
#include "common.h"

/* out[i] = vals[idx(x[i])] (NaN for NaN; OUT may be wider than REAL), idx_out[i] = idx (-1 for
 * NaN) when not NULL. */
#define DEFINE_SCALAR_LOOKUP(SUFFIX, REAL, OUT)                                                 \
    static void scalar_lookup_##SUFFIX(const REAL *x, int64_t from, int64_t to, REAL lo,       \
                                       REAL inv, int64_t cells, const int32_t *base,           \
                                       const REAL *brk, int maxc, const OUT *vals, OUT *out,   \
                                       int32_t *idx_out, REAL dlo, REAL dhi, stats_t *s) {     \
        for (int64_t i = from; i < to; i++) {                                                   \
            const REAL xi = x[i];                                                               \
            SKIP_NAN_INPUT(i, xi);                                                              \
            const int64_t k = stair_index_##REAL(xi, lo, inv, cells, base, brk, maxc);          \
            out[i] = vals[k];                                                                   \
            if (idx_out) idx_out[i] = (int32_t)k;                                               \
        }                                                                                       \
    }

DEFINE_SCALAR_LOOKUP(f32, float, float)
DEFINE_SCALAR_LOOKUP(f32_f64, float, double)
DEFINE_SCALAR_LOOKUP(f64, double, double)

#ifdef MBE_X86
/* The AVX-512 float32 lookup of elements [0, 16 * blocks), the same operations per lane as
 * scalar_lookup_f32 (max/min with 0 and cells - 1 map NaN to cell 0, as the scalar test does;
 * NaN lanes are then overwritten). Software-pipelined over steps of LOOKUP_STEP vectors: step
 * i computes the cells of step i and prefetches base[cell], reads the first breaks of step
 * i - 1 and prefetches their (break, value) pairs, and finishes step i - 2. */
#define LOOKUP_STEP 64

__attribute__((target("avx512f")))
static void simd_lookup_f32(const float *x, int64_t blocks, float lo, float inv, int64_t cells,
                            const int32_t *base, const float *pairs, int maxc, float *out,
                            int32_t *idx_out, float dlo, float dhi, stats_t *total,
                            int nthreads) {
    VSTATS_PARALLEL
    {
        int64_t nt = 1, id = 0;
        PARALLEL_IDS(nt, id);
        const int64_t v0 = blocks * id / nt, v1 = blocks * (id + 1) / nt;
        const int64_t steps = (v1 - v0 + LOOKUP_STEP - 1) / LOOKUP_STEP;
        const __m512 vlo = _mm512_set1_ps(lo), vinv = _mm512_set1_ps(inv);
        const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps((float)(cells - 1));
        const __m512 vnan = _mm512_set1_ps(NAN);
        const __m512i minus1 = _mm512_set1_epi32(-1);
        vstats_t st = vstats_start(dlo, dhi);
        int32_t ring[3][16 * LOOKUP_STEP];
        for (int64_t i = 0; i < steps + 2; i++)
            for (int pass = 1; pass <= 3; pass++) {
                const int64_t step = i - (pass - 1);
                if (step < 0 || step >= steps) continue;
                const int64_t vb = v0 + step * LOOKUP_STEP;
                const int64_t ve = vb + LOOKUP_STEP < v1 ? vb + LOOKUP_STEP : v1;
                int32_t *slots = ring[step % 3];
                for (int64_t v = vb; v < ve; v++) {
                    int32_t *slot = slots + 16 * (v - vb);
                    const __m512 xv = _mm512_loadu_ps(x + 16 * v);
                    if (pass == 1) {
                        __m512 c = _mm512_mul_ps(_mm512_sub_ps(xv, vlo), vinv);
                        c = _mm512_min_ps(_mm512_max_ps(c, zero), top);
                        const __m512i j = _mm512_cvttps_epi32(c);
                        _mm512_storeu_si512(slot, j);
                        prefetch_lanes((const char *)base, sizeof(int32_t), j, 0xFFFF);
                        continue;
                    }
                    if (pass == 2) {
                        const __m512i a = _mm512_i32gather_epi32(_mm512_loadu_si512(slot), base,
                                                                 4);
                        _mm512_storeu_si512(slot, a);
                        prefetch_lanes((const char *)pairs, 2 * sizeof(float), a, 0xFFFF);
                        continue;
                    }
                    const __m512i k = count_breaks(xv, _mm512_loadu_si512(slot), pairs, maxc);
                    const __mmask16 nan = _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q);
                    const __m512 r = _mm512_i32gather_ps(k, pairs + 1, 8);
                    _mm512_storeu_ps(out + 16 * v, _mm512_mask_blend_ps(nan, r, vnan));
                    if (idx_out)
                        _mm512_storeu_si512(idx_out + 16 * v,
                                            _mm512_mask_blend_epi32(nan, k, minus1));
                    vstats_add(&st, xv);
                }
            }
        VSTATS_REDUCE(st, ps, epi32);
    }
    VSTATS_MERGE(total);
}
/* The AVX2 float32 lookup of elements [0, 8 * blocks), for CPUs without AVX-512: the same
 * operations per lane as scalar_lookup_f32. max with 0 (which returns 0 for a NaN cell) and
 * min with cells - 1 give the scalar's cell; the breaks are counted, read from the (break,
 * value) pairs, until no lane meets one (they ascend, so no later one is met either); NaN
 * lanes get NaN and index -1. In two passes over AVX2_BLOCK vectors at a time: the first reads
 * every vector's base[cell], the second counts breaks and reads values, so that no read waits
 * on the one before it; the first AVX2_COUNT_ALWAYS breaks are counted without a branch (most
 * cells hold at most two), which keeps the loop's branches predictable. */
#define AVX2_BLOCK 64
#define AVX2_COUNT_ALWAYS 2
__attribute__((target("avx2")))
static void avx2_lookup_f32(const float *x, int64_t blocks, float lo, float inv, int64_t cells,
                            const int32_t *base, const float *pairs, int maxc, float *out,
                            int32_t *idx_out, float dlo, float dhi, stats_t *total,
                            int nthreads) {
    VSTATS_PARALLEL
    {
        int64_t nt = 1, id = 0;
        PARALLEL_IDS(nt, id);
        const int64_t v0 = blocks * id / nt, v1 = blocks * (id + 1) / nt;
        const __m256 vlo = _mm256_set1_ps(lo), vinv = _mm256_set1_ps(inv);
        const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps((float)(cells - 1));
        const __m256 vnan = _mm256_set1_ps(NAN);
        vstats8_t st = vstats8_start(dlo, dhi);
        int32_t first[8 * AVX2_BLOCK];
        for (int64_t vb = v0; vb < v1; vb += AVX2_BLOCK) {
            const int64_t ve = vb + AVX2_BLOCK < v1 ? vb + AVX2_BLOCK : v1;
            for (int64_t v = vb; v < ve; v++) {
                const __m256 xv = _mm256_loadu_ps(x + 8 * v);
                __m256 c = _mm256_mul_ps(_mm256_sub_ps(xv, vlo), vinv);
                c = _mm256_min_ps(_mm256_max_ps(c, zero), top);
                _mm256_storeu_si256((__m256i *)(first + 8 * (v - vb)),
                                    _mm256_i32gather_epi32(base, _mm256_cvttps_epi32(c), 4));
            }
            for (int64_t v = vb; v < ve; v++) {
                const __m256 xv = _mm256_loadu_ps(x + 8 * v);
                const __m256i a = _mm256_loadu_si256((const __m256i *)(first + 8 * (v - vb)));
                __m256i k = a;
                for (int step = 0; step < maxc; step++) {
                    const __m256i at = _mm256_add_epi32(a, _mm256_set1_epi32(step));
                    const __m256 b = _mm256_i32gather_ps(pairs, _mm256_add_epi32(at, at), 4);
                    const __m256i met = _mm256_castps_si256(_mm256_cmp_ps(xv, b, _CMP_GE_OQ));
                    if (step >= AVX2_COUNT_ALWAYS && _mm256_testz_si256(met, met)) break;
                    k = _mm256_sub_epi32(k, met); /* met lanes are -1 */
                }
                const __m256 r = _mm256_i32gather_ps(pairs + 1, _mm256_add_epi32(k, k), 4);
                const __m256 nan = _mm256_cmp_ps(xv, xv, _CMP_UNORD_Q);
                _mm256_storeu_ps(out + 8 * v, _mm256_blendv_ps(r, vnan, nan));
                if (idx_out)
                    _mm256_storeu_si256((__m256i *)(idx_out + 8 * v),
                                        _mm256_or_si256(k, _mm256_castps_si256(nan)));
                vstats8_add(&st, xv);
            }
        }
        vstats8_reduce(&st, &mn, &mx, &outside, &nonfinite);
    }
    VSTATS_MERGE(total);
}
#endif

#define DEFINE_LOOKUP(SUFFIX, REAL, OUT, SIMD_BLOCK)                                            \
    void stair_lookup_##SUFFIX(const REAL *x, int64_t n, REAL lo, REAL inv, int64_t cells,     \
                               const int32_t *base, const REAL *brk, int maxc,                 \
                               const OUT *vals, const REAL *pairs, OUT *out, int32_t *idx_out, \
                               REAL dlo, REAL dhi, double *stats, int nthreads, int simd) {    \
        stats_t total = EMPTY_STATS;                                                            \
        int64_t done = 0;                                                                       \
        SIMD_BLOCK                                                                              \
        SCALAR_REST(scalar_lookup_##SUFFIX(xs, from, to, lo, inv, cells, base, brk, maxc,     \
                                           vals, os, is, dlo, dhi, &s));                        \
        put(stats, &total);                                                                     \
    }

#ifdef MBE_X86
#define F32_SIMD                                                                                \
    if (use_avx512(simd) && n >= 16) {                                                          \
        const int64_t blocks = n / 16;                                                          \
        simd_lookup_f32(x, blocks, lo, inv, cells, base, pairs, maxc, out, idx_out, dlo, dhi,  \
                        &total, nthreads);                                                      \
        done = 16 * blocks;                                                                     \
    } else if (use_avx2(simd) && n >= 8) {                                                      \
        const int64_t blocks = n / 8;                                                           \
        avx2_lookup_f32(x, blocks, lo, inv, cells, base, pairs, maxc, out, idx_out, dlo, dhi,  \
                        &total, nthreads);                                                      \
        done = 8 * blocks;                                                                      \
    }
#else
#define F32_SIMD (void)simd;
#endif

DEFINE_LOOKUP(f32, float, float, F32_SIMD)
DEFINE_LOOKUP(f32_f64, float, double, (void)simd; (void)pairs;)
DEFINE_LOOKUP(f64, double, double, (void)simd; (void)pairs;)
