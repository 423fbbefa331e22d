/* Fused CPU loops for the operators' exact fast path (compiled on first use by mbe/kernels.py).
 *
 * Exactness rules: plain IEEE-754 arithmetic in the input's precision, no fast-math, no
 * contraction into fused multiply-adds (-ffp-contract=off), so every value equals the one the
 * same sequence of torch operations produces. mbe/kernels.py tests hold them to that. Each
 * float32 loop has a scalar form and an AVX-512 form (chosen at run time when the CPU has it,
 * `simd` = 1); both do the same operations per element, so they give the same bits.
 *
 * Bucketed staircase index. A staircase with K breaks b[0..K-1] (ascending, already rounded
 * up to the input precision) maps x to idx(x) = #{k : x >= b[k]}. Cell j(x) = trunc(clamp((x -
 * lo) * inv, 0, cells - 1)) is monotone in x, so every break in a lower cell is <= x and every
 * break in a higher cell is > x. With base[j] the number of breaks in cells below j and at
 * most `maxc` breaks per cell, idx(x) = base[j] + sum_{c < maxc} (x >= b[base[j] + c]): the
 * terms past x's own cell compare with breaks of higher cells (or the NaN padding, maxc
 * entries after b[K-1]) and add 0. No branch, so it vectorises as gathers.
 *
 * Stats (5 doubles, out): non-finite count, count outside the domain, finite min, finite max,
 * and events the loop counts (the simulation's spikes; 0 for the lookups).
 * The domain arrives as bounds in the input precision: x < lo_r iff x < lo and x > hi_r iff
 * x > hi (lo_r rounded up, hi_r rounded down by the caller).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MBE_X86 1
static int has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#else
static int has_avx512(void) { return 0; }
#endif

/* This thread's (count, index) inside an OpenMP parallel region (1, 0 without OpenMP). */
#ifdef _OPENMP
#include <omp.h>
#define PARALLEL_IDS(nt, id) (nt = omp_get_num_threads(), id = omp_get_thread_num())
#else
#define PARALLEL_IDS(nt, id) ((void)0)
#endif

typedef struct { int64_t nonfinite, outside; double mn, mx; int64_t spikes; } stats_t;

#define DEFINE_INDEX(REAL)                                                                      \
    static inline int64_t stair_index_##REAL(REAL x, REAL lo, REAL inv, int64_t cells,         \
                                             const int32_t *base, const REAL *brk, int maxc) { \
        REAL v = (x - lo) * inv;                                                                \
        if (!(v > (REAL)0)) v = (REAL)0;                                                        \
        if (v > (REAL)(cells - 1)) v = (REAL)(cells - 1);                                       \
        const int64_t a = base[(int64_t)v];                                                     \
        int64_t k = a;                                                                          \
        for (int c = 0; c < maxc; c++) k += (x >= brk[a + c]);                                  \
        return k;                                                                               \
    }

DEFINE_INDEX(float)
DEFINE_INDEX(double)

/* Counts x into s (float x is compared exactly as a double); 1 for NaN, which the caller
 * writes as NaN with index -1. */
static inline int count_input(stats_t *s, double x, double dlo, double dhi) {
    if (x != x) {
        s->nonfinite++;
        return 1;
    }
    if (isinf(x)) s->nonfinite++;
    else {
        if (x < s->mn) s->mn = x;
        if (x > s->mx) s->mx = x;
    }
    if (x < dlo || x > dhi) s->outside++;
    return 0;
}

/* Inside a scalar loop over i with stats s, bounds dlo, dhi and outputs out, idx_out: count
 * x into s, and for a NaN write NaN and index -1 and go on to the next element. */
#define SKIP_NAN_INPUT(i, x)                                                                    \
    if (count_input(s, x, dlo, dhi)) {                                                          \
        out[i] = NAN;                                                                           \
        if (idx_out) idx_out[i] = -1;                                                           \
        continue;                                                                               \
    }

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

static void merge(stats_t *into, const stats_t *s) {
    into->nonfinite += s->nonfinite;
    into->outside += s->outside;
    if (s->mn < into->mn) into->mn = s->mn;
    if (s->mx > into->mx) into->mx = s->mx;
    into->spikes += s->spikes;
}

static void put(double *stats, const stats_t *s) {
    stats[0] = (double)s->nonfinite; stats[1] = (double)s->outside;
    stats[2] = s->mn; stats[3] = s->mx; stats[4] = (double)s->spikes;
}

#define EMPTY_STATS {0, 0, INFINITY, -INFINITY, 0}

#ifdef MBE_X86
/* Per-thread vector statistics (the scalar loops' stats_t): of float32 inputs in 16 lanes
 * (vstats_t) and of inputs as doubles in 8 lanes (vstats64_t, the simulation's). S and I are
 * the intrinsics' float and integer suffixes. */
#define DEFINE_VSTATS(NAME, REAL, VEC, MASK, S, I)                                              \
    typedef struct { VEC mn, mx, dlo, dhi; __m512i outside, nonfinite; } NAME##_t;              \
    __attribute__((target("avx512f")))                                                          \
    static inline NAME##_t NAME##_start(REAL dlo, REAL dhi) {                                   \
        NAME##_t v = {_mm512_set1_##S(INFINITY), _mm512_set1_##S(-INFINITY),                   \
                      _mm512_set1_##S(dlo), _mm512_set1_##S(dhi), _mm512_setzero_si512(),       \
                      _mm512_setzero_si512()};                                                  \
        return v;                                                                               \
    }                                                                                           \
    __attribute__((target("avx512f")))                                                          \
    static inline void NAME##_add(NAME##_t *v, VEC x) {                                         \
        const __m512i one = _mm512_set1_##I(1);                                                 \
        const MASK fin = _mm512_cmp_##S##_mask(_mm512_abs_##S(x), _mm512_set1_##S(INFINITY),    \
                                               _CMP_LT_OQ);                                     \
        v->mn = _mm512_mask_min_##S(v->mn, fin, v->mn, x);                                      \
        v->mx = _mm512_mask_max_##S(v->mx, fin, v->mx, x);                                      \
        const MASK o = _mm512_cmp_##S##_mask(x, v->dlo, _CMP_LT_OQ)                             \
                       | _mm512_cmp_##S##_mask(x, v->dhi, _CMP_GT_OQ);                          \
        v->outside = _mm512_mask_add_##I(v->outside, o, v->outside, one);                       \
        v->nonfinite = _mm512_mask_add_##I(v->nonfinite, (MASK)~fin, v->nonfinite, one);        \
    }

DEFINE_VSTATS(vstats, float, __m512, __mmask16, ps, epi32)
DEFINE_VSTATS(vstats64, double, __m512d, __mmask8, pd, epi64)

/* One thread's totals, for the OpenMP reductions. */
#define VSTATS_REDUCE(v, S, I)                                                                  \
    (mn = _mm512_reduce_min_##S((v).mn), mx = _mm512_reduce_max_##S((v).mx),                   \
     nonfinite = _mm512_reduce_add_##I((v).nonfinite),                                          \
     outside = _mm512_reduce_add_##I((v).outside))

__attribute__((target("avx512f")))
static inline void prefetch_lanes(const char *table, int64_t size, __m512i index,
                                  __mmask16 lanes) {
    int32_t at[16];
    _mm512_storeu_si512(at, index);
    for (int l = 0; l < 16; l++)
        if (lanes >> l & 1) _mm_prefetch(table + size * at[l], _MM_HINT_T1);
}

/* k = a + #{c < maxc : x >= brk[a + c]} in 16 lanes, with the breaks read from interleaved
 * (break, value) pairs: scalar stair_index's count.
 * The breaks ascend, so once a lane has met a break above x (k < a + c) the rest add 0
 * for it: past the first COUNT_ALWAYS breaks, only the lanes still at k = a + c go on, and
 * the loop stops when none is (most cells hold at most 2 breaks). */
#define COUNT_ALWAYS 4
__attribute__((target("avx512f")))
static inline __m512i count_breaks(__m512 x, __m512i a, const float *pairs, int maxc) {
    const __m512i one = _mm512_set1_epi32(1);
    __mmask16 lanes = 0xFFFF;
    __m512i k = a;
    for (int c = 0; c < maxc; c++) {
        const __m512i at = _mm512_add_epi32(a, _mm512_set1_epi32(c));
        if (c >= COUNT_ALWAYS && !(lanes &= _mm512_cmpeq_epi32_mask(k, at))) break;
        const __m512 b = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), lanes, at, pairs, 8);
        k = _mm512_mask_add_epi32(k, _mm512_cmp_ps_mask(x, b, _CMP_GE_OQ) & lanes, k, one);
    }
    return k;
}

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
    int64_t nonfinite = 0, outside = 0;
    float mn = INFINITY, mx = -INFINITY;
#pragma omp parallel num_threads(nthreads) reduction(+:nonfinite,outside) reduction(min:mn) \
    reduction(max:mx)
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
    merge(total, &(stats_t){nonfinite, outside, (double)mn, (double)mx, 0});
}
#endif

/* Runs `scalar` over [0, n) on nthreads threads, merging the per-thread stats. */
#define PARALLEL_SCALAR(CALL)                                                                   \
    do {                                                                                        \
        int64_t nonfinite = 0, outside = 0, spikes = 0;                                         \
        double mn = INFINITY, mx = -INFINITY;                                                   \
        _Pragma("omp parallel num_threads(nthreads) reduction(+:nonfinite,outside,spikes) reduction(min:mn) reduction(max:mx)") \
        {                                                                                       \
            stats_t s = EMPTY_STATS;                                                            \
            int64_t nt = 1, id = 0;                                                             \
            PARALLEL_IDS(nt, id);                                                               \
            const int64_t from = n * id / nt, to = n * (id + 1) / nt;                           \
            CALL;                                                                               \
            nonfinite = s.nonfinite; outside = s.outside; mn = s.mn; mx = s.mx;                 \
            spikes = s.spikes;                                                                  \
        }                                                                                       \
        stats_t all = {nonfinite, outside, mn, mx, spikes};                                     \
        merge(&total, &all);                                                                    \
    } while (0)


/* The scalar loop (CALL, on xs, os, is over [from, to)) for the elements [done, n) that the
 * vector loop left, on nthreads threads. */
#define SCALAR_REST(CALL)                                                                       \
    do {                                                                                        \
        __typeof__(x) xs = x + done;                                                            \
        __typeof__(out) os = out + done;                                                        \
        int32_t *is = idx_out ? idx_out + done : 0;                                             \
        const int64_t n_left = n - done;                                                        \
        {                                                                                       \
            const int64_t n = n_left;                                                           \
            PARALLEL_SCALAR(CALL);                                                              \
        }                                                                                       \
    } while (0)

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
    if (simd && has_avx512() && n >= 16) {                                                      \
        const int64_t blocks = n / 16;                                                          \
        simd_lookup_f32(x, blocks, lo, inv, cells, base, pairs, maxc, out, idx_out, dlo, dhi,  \
                        &total, nthreads);                                                      \
        done = 16 * blocks;                                                                     \
    }
#else
#define F32_SIMD (void)simd;
#endif

DEFINE_LOOKUP(f32, float, float, F32_SIMD)
DEFINE_LOOKUP(f32_f64, float, double, (void)simd; (void)pairs;)
DEFINE_LOOKUP(f64, double, double, (void)simd; (void)pairs;)

/* Dyadic quantiser (the identity encoder MBE_Id in closed form, mbe/primitives.py):
 *   q = clamp(floor((x - lo) * inv), 0, span),  out = beta * (q + m)  (float64, exact)
 * with inv = 1 / beta a power of two; idx_out gets q (-1 for NaN). mbe/kernels.py uses it
 * only after checking that it equals the encoder's staircase at every break. */
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
    int64_t nonfinite = 0, outside = 0;
    float mn = INFINITY, mx = -INFINITY;
#pragma omp parallel num_threads(nthreads) reduction(+:nonfinite,outside) reduction(min:mn) \
    reduction(max:mx)
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
    merge(total, &(stats_t){nonfinite, outside, (double)mn, (double)mx, 0});
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
    if (simd && has_avx512() && n >= 16) {                                                      \
        const int64_t blocks = n / 16;                                                          \
        simd_quantise_f32(x, blocks, lo, inv, span, beta, m, out, idx_out, dlo, dhi, &total,   \
                          nthreads);                                                            \
        done = 16 * blocks;                                                                     \
    }
#else
#define Q32_SIMD (void)simd;
#endif

DEFINE_QUANTISE(f32, float, Q32_SIMD)
DEFINE_QUANTISE(f64, double, (void)simd;)

/* The softmax's 2^x table keyed by f's fixed-point value (mbe/kernels.py `Fractions`).
 * Every f the split makes is j / 2^24 for an integer j in [0, 2^24]. The split's z =
 * (x - m) log2e is a float32 in [-126, 0]. Where z <= -1/2, z is a multiple of its ulp, which
 * is at least 2^-24, and so is f = z - floor(z), computed exactly (f < 1 has room for it).
 * Where -1/2 < z <= 0, f = fl(z + 1) (or 0 at z = 0) is rounded to the float32 grid of
 * [1/2, 1], which is 2^-24. So j = f 2^24 is exact, f >= b iff j >= jb = ceil(b 2^24), and the
 * piece index is #{jb <= j}. Cell c = j >> 7 spans 128 values of j, and records[c] (64 bits)
 * holds base, the number of breaks with jb < 128 c (bits 0-22), an overflow flag (bit 23), and
 * the offsets jb - 128 c of the cell's first five breaks, one byte each (bits 24-63; 255 in
 * unused slots, which no offset 0..127 reaches): index = base + #{slots : (j & 127) >=
 * offset}. In a flagged cell (more than five breaks) the count goes on past the fifth break
 * in the float32 breaks (f >= b32 iff f >= b iff j >= jb, so the same count). */
typedef struct {
    const uint64_t *records;
    const float *vals; /* (count + 1,) the values */
    const float *brk;  /* (count,) the breaks rounded up to float32 */
    int64_t count;
} fractions_t;

#define FRACTION_SCALE 16777216.0f /* 2^24 */
#define CELL_SHIFT 7
#define CELL_MASK 127u /* j & CELL_MASK: j's offset in its cell */
#define OVERFLOW_BIT (1u << 23)
#define BASE_BITS 0x7FFFFFu

/* #{i < count : brk[i] <= f} for ascending brk, given that the first k are. */
static int32_t count_on(const float *brk, int64_t count, int32_t k, float f) {
    while (k < count && brk[k] <= f) k++;
    return k;
}

/* The piece index of an f = j / 2^24 in [0, 1] (see fractions_t). */
static inline int32_t fraction_index(float f, const fractions_t *t) {
    const int32_t j = (int32_t)(f * FRACTION_SCALE);
    const uint64_t r = t->records[j >> CELL_SHIFT];
    const uint32_t off = (uint32_t)j & CELL_MASK;
    int32_t k = (int32_t)((uint32_t)r & BASE_BITS);
    for (int slot = 0; slot < 5; slot++) k += off >= (uint32_t)(r >> (24 + 8 * slot) & 0xFF);
    return (uint32_t)r & OVERFLOW_BIT ? count_on(t->brk, t->count, k, f) : k;
}

/* Softmax numerator (Eq. 13) for rows of a contiguous (rows, cols) float32 tensor:
 *   m = max of the row (NaN if the row holds a NaN, as torch.amax), written to rowmax
 *   z = (x - m) * log2e;  k = floor(z);  f = z - k;  e = vals[idx(f)] * 2^k (exact)
 * (idx and vals from the fractions_t table of the 2^x neuron)
 * with e = 0 where z < -126 (below float32's normal range: flushed, the 2^x neuron not run),
 * e = NaN where z is NaN. idx_out gets the piece index (-1 where flushed or NaN).
 * stats: [0] NaN count, [1] evaluated count, [2] min f, [3] max f. */
static inline float pow2_exact(float k) { /* 2^k for an integer k in [-126, 0] */
    union { uint32_t u; float f; } p = {.u = (uint32_t)((int32_t)k + 127) << 23};
    return p.f;
}

/* A row's sum in the one order every softmax path uses (mbe/kernels.py `row_sums`): 16
 * partial sums, acc[l] over the elements c = l (mod 16) in order, then a fixed pairwise tree.
 * The vector loop's lanes are exactly those partial sums. */
static inline float sum16(float acc[16]) {
    for (int w = 8; w >= 1; w >>= 1)
        for (int i = 0; i < w; i++) acc[i] += acc[i + w];
    return acc[0];
}

static float row_sum(const float *er, int64_t cols) {
    float acc[16] = {0};
    for (int64_t c = 0; c < cols; c++) acc[c & 15] += er[c];
    return sum16(acc);
}

void row_sums_f32(const float *e, int64_t rows, int64_t cols, float *out, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < rows; r++) out[r] = row_sum(e + r * cols, cols);
}

/* The softmax denominator (Eq. 13) as a table: float32 breaks, float64 values (the 1/x neuron
 * followed by its identity encoder), the neuron's domain as float32 bounds. */
typedef struct {
    float lo, inv;
    int64_t cells;
    const int32_t *base;
    const float *brk;
    int maxc;
    const double *vals;
    float dlo, dhi;
} denom_t;

/* 1 / sum as the operator computes it: sum = M 2^E (frexp), r = float(table(M)) * 2^-E.
 * M is counted into ds (the denominator neuron's statistics). */
static float row_scale(float sum, const denom_t *d, stats_t *ds) {
    union { float f; uint32_t u; } s = {.f = sum};
    const uint32_t biased = s.u >> 23 & 0xFF;
    int ex = 0;
    float mant;
    if (!(s.u >> 31) && biased > 0 && biased < 255) { /* frexpf of a positive normal float */
        ex = (int)biased - 126;
        s.u = (s.u & 0x807FFFFFu) | (126u << 23);
        mant = s.f;
    } else {
        mant = frexpf(sum, &ex);
    }
    if (count_input(ds, mant, d->dlo, d->dhi)) return NAN;
    const int64_t p = stair_index_float(mant, d->lo, d->inv, d->cells, d->base, d->brk,
                                        d->maxc);
    const float v = (float)d->vals[p];
    if (ex >= -126 && ex <= 126) { /* 2^-ex is a normal float: v * 2^-ex is ldexpf's value */
        const union { uint32_t u; float f; } shift = {.u = (uint32_t)(127 - ex) << 23};
        const float r = v * shift.f;
        if (fabsf(r) >= 0x1p-126f || r == 0.0f) return r; /* normal or zero: exact */
    }
    return ldexpf(v, -ex);
}

/* The row maximum, NaN if the row holds a NaN (as torch.amax). */
static inline float row_max(const float *xr, int64_t cols) {
    float m = -INFINITY;
    for (int64_t c = 0; c < cols; c++) {
        if (xr[c] != xr[c]) return NAN;
        if (xr[c] > m) m = xr[c];
    }
    return m;
}

static void scalar_softmax_row(const float *xr, int64_t cols, float *rowmax, float log2e,
                               const fractions_t *num, float *er, int32_t *ir, int64_t *nans,
                               int64_t *evaluated, double *mn, double *mx) {
    const float m = *rowmax = row_max(xr, cols);
    for (int64_t c = 0; c < cols; c++) {
        const float z = (xr[c] - m) * log2e;
        if (z != z) {
            (*nans)++;
            er[c] = NAN;
            if (ir) ir[c] = -1;
            continue;
        }
        if (!(z >= -126.0f)) {
            er[c] = 0.0f;
            if (ir) ir[c] = -1;
            continue;
        }
        const float k = floorf(z);
        const float f = z - k;
        const int32_t p = fraction_index(f, num);
        (*evaluated)++;
        if ((double)f < *mn) *mn = (double)f;
        if ((double)f > *mx) *mx = (double)f;
        er[c] = num->vals[p] * pow2_exact(k);
        if (ir) ir[c] = p;
    }
}

#ifdef MBE_X86
/* fraction_index in the 16 lanes in `keep` of j (0 elsewhere), from two 64-bit gathers of
 * records, up to its count_on: `search` gets the lanes whose cell overflowed. */
__attribute__((target("avx512f")))
static inline __m512i fraction_index16(__m512i j, __mmask16 keep, const fractions_t *t,
                                       __mmask16 *search) {
    const __m512i one = _mm512_set1_epi32(1), byte = _mm512_set1_epi32(0xFF);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                          2, 0);
    const __m512i cell = _mm512_srli_epi32(j, CELL_SHIFT);
    const __m512i r0 = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), (__mmask8)keep,
                                                   _mm512_castsi512_si256(cell),
                                                   (const void *)t->records, 8);
    const __m512i r1 = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), (__mmask8)(keep >> 8),
                                                   _mm512_extracti64x4_epi64(cell, 1),
                                                   (const void *)t->records, 8);
    const __m512i lo = _mm512_permutex2var_epi32(r0, even, r1); /* bits 0-31 of each record */
    const __m512i hi = _mm512_permutex2var_epi32(r0, _mm512_add_epi32(even, one), r1);
    const __m512i off = _mm512_and_si512(j, _mm512_set1_epi32(CELL_MASK));
    __m512i k = _mm512_maskz_and_epi32(keep, lo, _mm512_set1_epi32(BASE_BITS));
    k = _mm512_mask_add_epi32(k, _mm512_cmpge_epu32_mask(off, _mm512_srli_epi32(lo, 24)) & keep,
                              k, one);
    for (int shift = 0; shift < 32; shift += 8) {
        const __m512i slot = _mm512_and_si512(_mm512_srli_epi32(hi, shift), byte);
        k = _mm512_mask_add_epi32(k, _mm512_cmpge_epu32_mask(off, slot) & keep, k, one);
    }
    *search = _mm512_test_epi32_mask(lo, _mm512_set1_epi32(OVERFLOW_BIT)) & keep;
    return k;
}

/* Rows [r0, r1) in AVX-512, a block of rows at a time in passes, so that the table lines an
 * element needs are prefetched (into L2) a pass before they are read: (1) each row's maximum
 * (order-free, NaN checked apart), z, k, f and j = f 2^24, prefetching f's record; (2) the
 * piece index from the records, prefetching the values; (3) the value, e and the row sums;
 * (4) with `den`, each row divided by its sum (Eq. 13's denominator), written with streaming
 * stores. Every lane takes scalar_softmax_row's operations; a row's tail is masked. The
 * staging buffers hold one block (SOFTMAX_BLOCK elements, or one row). */
#define SOFTMAX_BLOCK 1024

__attribute__((target("avx512f")))
static void simd_softmax_rows(const float *x, int64_t r0, int64_t r1, int64_t cols,
                              float *rowmax, float log2e, const fractions_t *num,
                              const denom_t *den, stats_t *ds, float *e,
                              int32_t *idx_out, int64_t *nans,
                              int64_t *evaluated, float *mn, float *mx) {
    const __m512 vl2e = _mm512_set1_ps(log2e), ninf = _mm512_set1_ps(-INFINITY);
    const __m512 scale = _mm512_set1_ps(FRACTION_SCALE), zero = _mm512_setzero_ps();
    const __m512 floor126 = _mm512_set1_ps(-126.0f), vnan = _mm512_set1_ps(NAN);
    const __m512i one = _mm512_set1_epi32(1), minus1 = _mm512_set1_epi32(-1);
    const __m512i bias = _mm512_set1_epi32(127);
    __m512 vmn = _mm512_set1_ps(INFINITY), vmx = ninf;
    __m512i vnans = _mm512_setzero_si512(), vevals = _mm512_setzero_si512();
    const int64_t per_row = (cols + 15) / 16;
    const int64_t block = cols >= SOFTMAX_BLOCK ? 1 : SOFTMAX_BLOCK / cols;
    const int64_t vecs = per_row * block, blocks = (r1 - r0 + block - 1) / block;
    float *fb0 = malloc(sizeof(float) * 16 * vecs * 3);
    int32_t *kb0 = malloc(sizeof(int32_t) * 16 * vecs * 3);
    int32_t *ab0 = malloc(sizeof(int32_t) * 16 * vecs * 3);
    __mmask16 *keepb0 = malloc(sizeof(__mmask16) * vecs * 3);
    __mmask16 *nanb0 = malloc(sizeof(__mmask16) * vecs * 3);
    float *sums = malloc(sizeof(float) * block);
    /* with den, pass 3 stages e here and pass 4 streams the quotients past the caches, so
     * the output does not evict the table from L2 (aligned_alloc: a multiple of 64 bytes) */
    float *stage = den ? aligned_alloc(64, (sizeof(float) * cols * block + 63) / 64 * 64) : 0;
    /* software pipeline over blocks: step i runs pass 1 of block i, pass 2 of block i - 1 and
     * passes 3-4 of block i - 2, so every prefetch has a whole step to arrive */
    for (int64_t i = 0; i < blocks + 2; i++)
    for (int pass = 1; pass <= 3; pass++) {
        const int64_t b = i - (pass - 1);
        if (b < 0 || b >= blocks) continue;
        const int64_t rb = r0 + b * block, re = rb + block < r1 ? rb + block : r1;
        const int64_t nv = (re - rb) * per_row, at = (b % 3) * vecs;
        float *fb = fb0 + 16 * at;
        int32_t *kb = kb0 + 16 * at, *ab = ab0 + 16 * at;
        __mmask16 *keepb = keepb0 + at, *nanb = nanb0 + at;
        if (pass == 1)
        for (int64_t r = rb, v = 0; r < re; r++) { /* pass 1 */
            const float *xr = x + r * cols;
            __m512 vm = ninf;
            __mmask16 anynan = 0;
            for (int64_t c = 0; c < cols; c += 16) {
                const __mmask16 in = cols - c >= 16 ? 0xFFFF
                                                    : (__mmask16)((1u << (cols - c)) - 1);
                const __m512 xv = _mm512_mask_loadu_ps(ninf, in, xr + c);
                anynan |= _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q);
                vm = _mm512_max_ps(vm, xv);
            }
            const float m = anynan ? NAN : _mm512_reduce_max_ps(vm);
            rowmax[r] = m;
            const __m512 mv = _mm512_set1_ps(m);
            for (int64_t c = 0; c < cols; c += 16, v++) {
                const __mmask16 in = cols - c >= 16 ? 0xFFFF
                                                    : (__mmask16)((1u << (cols - c)) - 1);
                const __m512 z = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(in, xr + c),
                                                             mv), vl2e);
                const __mmask16 keep = _mm512_cmp_ps_mask(z, floor126, _CMP_GE_OQ) & in;
                const __m512 k = _mm512_roundscale_ps(z, _MM_FROUND_TO_NEG_INF
                                                             | _MM_FROUND_NO_EXC);
                const __m512 f = _mm512_sub_ps(z, k);
                const __m512i j = _mm512_cvttps_epi32(_mm512_mul_ps(f, scale));
                _mm512_storeu_ps(fb + 16 * v, f);
                _mm512_storeu_si512(kb + 16 * v,
                                    _mm512_cvttps_epi32(_mm512_mask_blend_ps(keep, zero, k)));
                _mm512_storeu_si512(ab + 16 * v, j);
                keepb[v] = keep;
                nanb[v] = _mm512_cmp_ps_mask(z, z, _CMP_UNORD_Q) & in;
                prefetch_lanes((const char *)num->records, sizeof(uint64_t),
                               _mm512_srli_epi32(j, CELL_SHIFT), keep);
            }
        }
        if (pass == 2)
        for (int64_t v = 0; v < nv; v++) { /* pass 2 */
            __mmask16 search;
            _mm512_storeu_si512(ab + 16 * v, fraction_index16(_mm512_loadu_si512(ab + 16 * v),
                                                              keepb[v], num, &search));
            for (; search; search &= search - 1) {
                const int l = __builtin_ctz(search);
                ab[16 * v + l] = count_on(num->brk, num->count, ab[16 * v + l], fb[16 * v + l]);
            }
            prefetch_lanes((const char *)num->vals, sizeof(float), _mm512_loadu_si512(ab + 16 * v),
                           keepb[v]);
        }
        if (pass == 3)
        for (int64_t r = rb, v = 0; r < re; r++) { /* pass 3 */
            float *er = den ? stage + (r - rb) * cols : e + r * cols;
            int32_t *ir = idx_out ? idx_out + r * cols : 0;
            __m512 vsum = zero;
            for (int64_t c = 0; c < cols; c += 16, v++) {
                const __mmask16 in = cols - c >= 16 ? 0xFFFF
                                                    : (__mmask16)((1u << (cols - c)) - 1);
                const __mmask16 keep = keepb[v], nan = nanb[v];
                const __m512 f = _mm512_loadu_ps(fb + 16 * v);
                const __m512i p = _mm512_loadu_si512(ab + 16 * v);
                const __m512 val = _mm512_mask_i32gather_ps(zero, keep, p, num->vals, 4);
                const __m512i ki = _mm512_loadu_si512(kb + 16 * v);
                const __m512 pw = _mm512_castsi512_ps(
                    _mm512_slli_epi32(_mm512_add_epi32(ki, bias), 23));
                const __m512 ev = _mm512_mask_blend_ps(nan, _mm512_maskz_mul_ps(keep, val, pw),
                                                      vnan);
                _mm512_mask_storeu_ps(er + c, in, ev);
                vsum = _mm512_add_ps(vsum, _mm512_maskz_mov_ps(in, ev));
                if (ir)
                    _mm512_mask_storeu_epi32(ir + c, in,
                                             _mm512_mask_blend_epi32(keep, minus1, p));
                vnans = _mm512_mask_add_epi32(vnans, nan, vnans, one);
                vevals = _mm512_mask_add_epi32(vevals, keep, vevals, one);
                vmn = _mm512_mask_min_ps(vmn, keep, vmn, f);
                vmx = _mm512_mask_max_ps(vmx, keep, vmx, f);
            }
            float acc[16];
            _mm512_storeu_ps(acc, vsum);
            sums[r - rb] = sum16(acc);
        }
        if (pass == 3 && den) { /* pass 4: the rows divided by their sums, still in L1 */
            for (int64_t r = rb; r < re; r++) /* independent lookups: their misses overlap */
                sums[r - rb] = row_scale(sums[r - rb], den, ds);
            for (int64_t r = rb; r < re; r++) {
                float *er = e + r * cols;
                const float *sr = stage + (r - rb) * cols;
                const __m512 rv = _mm512_set1_ps(sums[r - rb]);
                for (int64_t c = 0; c < cols; c += 16) {
                    const __mmask16 in = cols - c >= 16 ? 0xFFFF
                                                        : (__mmask16)((1u << (cols - c)) - 1);
                    const __m512 y = _mm512_mul_ps(_mm512_maskz_loadu_ps(in, sr + c), rv);
                    if (in == 0xFFFF && !((uintptr_t)(er + c) & 63))
                        _mm512_stream_ps(er + c, y);
                    else
                        _mm512_mask_storeu_ps(er + c, in, y);
                }
            }
        }
    }
    _mm_sfence();
    free(fb0); free(kb0); free(ab0); free(keepb0); free(nanb0); free(sums); free(stage);
    *nans += _mm512_reduce_add_epi32(vnans);
    *evaluated += _mm512_reduce_add_epi32(vevals);
    *mn = _mm512_reduce_min_ps(vmn);
    *mx = _mm512_reduce_max_ps(vmx);
}
#endif

/* den == NULL: e is the numerator. Otherwise each row is also divided by its sum (Eq. 13's
 * denominator, row_scale) and stats[4..7] get the denominator's input statistics. */
void softmax_exp_f32(const float *x, int64_t rows, int64_t cols, float *rowmax,
                     float log2e, const fractions_t *num, const denom_t *den, float *e,
                     int32_t *idx_out, double *stats, int nthreads, int simd) {
    int64_t nans = 0, evaluated = 0, d_nonfinite = 0, d_outside = 0;
    double mn = INFINITY, mx = -INFINITY, d_mn = INFINITY, d_mx = -INFINITY;
    const int vector = simd && has_avx512();
#pragma omp parallel num_threads(nthreads) reduction(+:nans,evaluated,d_nonfinite,d_outside) \
    reduction(min:mn,d_mn) reduction(max:mx,d_mx)
    {
        int64_t nt = 1, id = 0;
        PARALLEL_IDS(nt, id);
        const int64_t r0 = rows * id / nt, r1 = rows * (id + 1) / nt;
        stats_t ds = EMPTY_STATS;
#ifdef MBE_X86
        if (vector) {
            float fmn = INFINITY, fmx = -INFINITY;
            simd_softmax_rows(x, r0, r1, cols, rowmax, log2e, num, den, &ds, e, idx_out, &nans,
                              &evaluated, &fmn, &fmx);
            mn = (double)fmn;
            mx = (double)fmx;
        }
#endif
        if (!vector) {
            for (int64_t r = r0; r < r1; r++) {
                float *er = e + r * cols;
                scalar_softmax_row(x + r * cols, cols, rowmax + r, log2e, num, er,
                                   idx_out ? idx_out + r * cols : 0, &nans, &evaluated, &mn,
                                   &mx);
                if (den) {
                    const float scale = row_scale(row_sum(er, cols), den, &ds);
                    for (int64_t c = 0; c < cols; c++) er[c] = er[c] * scale;
                }
            }
        }
        d_nonfinite = ds.nonfinite; d_outside = ds.outside; d_mn = ds.mn; d_mx = ds.mx;
    }
    stats[0] = (double)nans; stats[1] = (double)evaluated; stats[2] = mn; stats[3] = mx;
    stats[4] = (double)d_nonfinite; stats[5] = (double)d_outside; stats[6] = d_mn;
    stats[7] = d_mx;
}

/* The softmax split element by element (Eq. 13), for the paths that evaluate the 2^x neuron
 * outside softmax_exp_f32 (the spike simulation): each row's maximum m as above, then
 * z = (x - m) * log2e, and the element is evaluated where z >= -126 (e = 0 below, NaN where z
 * is NaN). softmax_split_f32 writes, per row, how many elements are evaluated, and for those,
 * in row-major order, k = floor(z) and f = z - k; softmax_place_f32 puts one value per
 * evaluated element back in its place (0 or NaN elsewhere). */
void softmax_split_f32(const float *x, int64_t rows, int64_t cols, float log2e, float *rowmax,
                       int64_t *evaluated, float *k_out, float *f_out, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        const float m = rowmax[r] = row_max(xr, cols);
        int64_t n = 0;
        for (int64_t c = 0; c < cols; c++) n += (xr[c] - m) * log2e >= -126.0f;
        evaluated[r] = n;
    }
    int64_t *start = malloc(sizeof(int64_t) * (rows + 1));
    start[0] = 0;
    for (int64_t r = 0; r < rows; r++) start[r + 1] = start[r] + evaluated[r];
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        int64_t j = start[r];
        for (int64_t c = 0; c < cols; c++) {
            const float z = (xr[c] - rowmax[r]) * log2e;
            if (z >= -126.0f) {
                k_out[j] = floorf(z);
                f_out[j] = z - k_out[j];
                j++;
            }
        }
    }
    free(start);
}

void softmax_place_f32(const float *x, int64_t rows, int64_t cols, float log2e,
                       const float *rowmax, const int64_t *start, const float *vals,
                       float *out, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *outr = out + r * cols;
        int64_t j = start[r];
        for (int64_t c = 0; c < cols; c++) {
            const float z = (xr[c] - rowmax[r]) * log2e;
            outr[c] = z >= -126.0f ? vals[j++] : z != z ? NAN : 0.0f;
        }
    }
}

/* Time-stepped simulation (Eqs. 5-8), the engine of "spike" mode (mbe/simulator.py). For every
 * element x (as a double) and basis n, for t = 0 .. T-1, the float64 operations of
 * mbe/dynamics.py:
 *   u = (x - shift[n]) * scale[n];   s = (u - vth[t][n] >= 0);
 *   u = u - s r[t][n];               o = o + s d[t][n]
 * and, per element (each output may be NULL), with q = sum over bases of
 * word_n = sum_t s_n[t] 2^(T-1-t) (basis n's spike train read as a binary number; summed over
 * bases, the identity encoder's code):
 *   y[i]      the decoded output: w[0] o_0 + w[1] o_1 + ... in basis order, then + bias (as
 *             dynamics.decode sums); NaN where x is NaN
 *   code[i]   q; NaN where x is NaN
 *   count[i]  spikes fired over all bases and steps (also summed into the stats)
 * A NaN x fires nothing. The comparison u >= vth is (u - vth >= 0) of dynamics.py: for finite
 * vth the two agree on every double u (gradual underflow keeps the sign of a difference; the
 * caller checks vth finite). T <= 62 (checked by the caller). */
typedef struct {
    int64_t steps, bases;
    const double *vth, *r, *d; /* (T, N), row-major */
    const double *shift, *scale, *weight;
    double bias;
} neuron_t;

/* SIM_LANES elements side by side, as LANE_CHAINS independent chains of 4-lane GCC vectors
 * (so that their steps overlap), each lane with the operations above (fire = (u >= vth) as
 * 1.0 or +0.0: the bits of 1.0 masked by the comparison, as the scalar (double)(u >= vth)
 * gives); count gets their spikes. Portable C: the compiler emits the target's vectors (SSE2
 * on any x86-64; AVX2 in the loop compiled for it below). `decode` (y wanted) is a constant
 * at each call. */
#define LANE_CHAINS 8
#define SIM_LANES (4 * LANE_CHAINS)
typedef double lanes_d __attribute__((vector_size(32)));
typedef int64_t lanes_i __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) void simulate_lanes(
        const neuron_t *nr, const double *x, int decode, double *y, double *code,
        int32_t *count) {
    const int64_t T = nr->steps, N = nr->bases;
    const lanes_d zero = {0};
    const lanes_i one = (lanes_i)(zero + 1.0);
    lanes_d xv[LANE_CHAINS], acc[LANE_CHAINS], u[LANE_CHAINS], o[LANE_CHAINS];
    lanes_i q[LANE_CHAINS], word[LANE_CHAINS];
    int64_t c[SIM_LANES] = {0};
    memcpy(xv, x, sizeof xv);
    for (int64_t n = 0; n < N; n++) {
#pragma GCC unroll 8
        for (int k = 0; k < LANE_CHAINS; k++) {
            u[k] = (xv[k] - nr->shift[n]) * nr->scale[n];
            o[k] = zero;
            word[k] = (lanes_i){0};
        }
        for (int64_t t = 0; t < T; t++) {
            const lanes_d vth = zero + nr->vth[t * N + n];
            const double r = nr->r[t * N + n], d = nr->d[t * N + n];
#pragma GCC unroll 8
            for (int k = 0; k < LANE_CHAINS; k++) {
                const lanes_i s = u[k] >= vth; /* -1 where the lane fires, else 0 */
                const lanes_d fire = (lanes_d)(s & one);
                u[k] = u[k] - fire * r;
                if (decode) o[k] = o[k] + fire * d;
                word[k] = word[k] + word[k] - s;
            }
        }
#pragma GCC unroll 8
        for (int k = 0; k < LANE_CHAINS; k++) {
            const lanes_d p = o[k] * nr->weight[n];
            acc[k] = n ? acc[k] + p : p;
            q[k] = n ? q[k] + word[k] : word[k];
            for (int l = 0; l < 4; l++) c[4 * k + l] += __builtin_popcountll((uint64_t)word[k][l]);
        }
    }
    for (int l = 0; l < SIM_LANES; l++) {
        const int nan = x[l] != x[l];
        if (decode) y[l] = nan ? NAN : acc[l / 4][l % 4] + nr->bias;
        if (code) code[l] = nan ? NAN : (double)q[l / 4][l % 4];
        count[l] = (int32_t)c[l];
    }
}

/* Elements [from, to) in blocks of SIM_LANES; the last block padded with zeros, whose
 * results are dropped. NAME's ATTR chooses the instruction set. */
#define DEFINE_LANES_SIMULATE(NAME, REAL, ATTR)                                                 \
    ATTR static void NAME(const REAL *x, int64_t from, int64_t to, const neuron_t *nr,         \
                          double *y, double *code, int32_t *count, REAL dlo, REAL dhi,         \
                          stats_t *s) {                                                         \
        for (int64_t i = from; i < to; i += SIM_LANES) {                                        \
            const int lanes = to - i < SIM_LANES ? (int)(to - i) : SIM_LANES;                   \
            double xb[SIM_LANES] = {0}, yb[SIM_LANES], cb[SIM_LANES];                          \
            int32_t kb[SIM_LANES];                                                              \
            for (int l = 0; l < lanes; l++) {                                                   \
                count_input(s, x[i + l], dlo, dhi);                                             \
                xb[l] = (double)x[i + l];                                                       \
            }                                                                                   \
            if (y) simulate_lanes(nr, xb, 1, yb, code ? cb : 0, kb);                            \
            else simulate_lanes(nr, xb, 0, 0, code ? cb : 0, kb);                               \
            for (int l = 0; l < lanes; l++) {                                                   \
                if (y) y[i + l] = yb[l];                                                        \
                if (code) code[i + l] = cb[l];                                                  \
                if (count) count[i + l] = kb[l];                                                \
                s->spikes += kb[l];                                                             \
            }                                                                                   \
        }                                                                                       \
    }

DEFINE_LANES_SIMULATE(lanes_simulate_f32, float, )
DEFINE_LANES_SIMULATE(lanes_simulate_f64, double, )
#ifdef MBE_X86
static int has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
DEFINE_LANES_SIMULATE(lanes_simulate_avx2_f32, float, __attribute__((target("avx2"))))
DEFINE_LANES_SIMULATE(lanes_simulate_avx2_f64, double, __attribute__((target("avx2"))))
/* The lane loop for the elements the AVX-512 loop leaves (all of them without AVX-512). */
#define LANES_SIMULATE(SUFFIX) \
    (simd && has_avx2() ? lanes_simulate_avx2_##SUFFIX : lanes_simulate_##SUFFIX)
#else
#define LANES_SIMULATE(SUFFIX) lanes_simulate_##SUFFIX
#endif

#ifdef MBE_X86
#define SIM_TARGET __attribute__((target("avx512f,avx512dq,avx512vpopcntdq")))
#define SIM_CHAINS 8 /* independent 8-lane vectors in flight: each step's sub, compare and
                        masked update depend on the last, so one chain would wait on latency */

static int has_simd_simulate(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
           && __builtin_cpu_supports("avx512vpopcntdq");
}

/* Elements [i, i + 8 SIM_CHAINS), already loaded as doubles: the scalar element's operations
 * per lane. Where s = 0 the masked update keeps u and o, which is what subtracting or adding
 * the zero s r (s d) does (up to the sign of a zero membrane, which no comparison tells
 * apart). `decode` (y wanted) is a constant at each call, so the o updates vanish where
 * they are not needed. */
SIM_TARGET static inline __attribute__((always_inline)) void simd_simulate_chains(
        const neuron_t *nr, const __m512d *x, int decode, double *y, double *code,
        int32_t *count, __m512i *spikes) {
    const int64_t T = nr->steps, N = nr->bases;
    const __m512d zero = _mm512_setzero_pd();
    __m512d acc[SIM_CHAINS];
    __m512i q[SIM_CHAINS], c[SIM_CHAINS];
    for (int64_t n = 0; n < N; n++) {
        __m512d u[SIM_CHAINS], o[SIM_CHAINS];
        __m512i word[SIM_CHAINS];
        const __m512d shift = _mm512_set1_pd(nr->shift[n]), scale = _mm512_set1_pd(nr->scale[n]);
#pragma GCC unroll 8
        for (int k = 0; k < SIM_CHAINS; k++) {
            u[k] = _mm512_mul_pd(_mm512_sub_pd(x[k], shift), scale);
            o[k] = zero;
            word[k] = _mm512_setzero_si512();
        }
        for (int64_t t = 0; t < T; t++) {
            const __m512d vth = _mm512_set1_pd(nr->vth[t * N + n]);
            const __m512d r = _mm512_set1_pd(nr->r[t * N + n]);
            const __m512d d = _mm512_set1_pd(nr->d[t * N + n]);
            const __m512i bit = _mm512_set1_epi64((int64_t)1 << (T - 1 - t));
#pragma GCC unroll 8
            for (int k = 0; k < SIM_CHAINS; k++) {
                const __mmask8 s = _mm512_cmp_pd_mask(u[k], vth, _CMP_GE_OQ);
                u[k] = _mm512_mask_sub_pd(u[k], s, u[k], r);
                if (decode) o[k] = _mm512_mask_add_pd(o[k], s, o[k], d);
                word[k] = _mm512_mask_or_epi64(word[k], s, word[k], bit);
            }
        }
        const __m512d w = _mm512_set1_pd(nr->weight[n]);
#pragma GCC unroll 8
        for (int k = 0; k < SIM_CHAINS; k++) {
            if (decode) {
                const __m512d p = _mm512_mul_pd(o[k], w);
                acc[k] = n ? _mm512_add_pd(acc[k], p) : p;
            }
            q[k] = n ? _mm512_add_epi64(q[k], word[k]) : word[k];
            const __m512i pc = _mm512_popcnt_epi64(word[k]);
            c[k] = n ? _mm512_add_epi64(c[k], pc) : pc;
        }
    }
    const __m512d dnan = _mm512_set1_pd(NAN), bias = _mm512_set1_pd(nr->bias);
#pragma GCC unroll 8
    for (int k = 0; k < SIM_CHAINS; k++) {
        const __mmask8 nan = _mm512_cmp_pd_mask(x[k], x[k], _CMP_UNORD_Q);
        const __m512d qd = _mm512_cvtepi64_pd(q[k]);
        if (decode) _mm512_storeu_pd(y + 8 * k, _mm512_mask_blend_pd(
                        nan, _mm512_add_pd(acc[k], bias), dnan));
        if (code) _mm512_storeu_pd(code + 8 * k, _mm512_mask_blend_pd(nan, qd, dnan));
        if (count) _mm256_storeu_si256((__m256i *)(count + 8 * k), _mm512_cvtepi64_epi32(c[k]));
        *spikes = _mm512_add_epi64(*spikes, c[k]);
    }
}

/* Elements [0, 8 SIM_CHAINS blocks) of x (float32 if !wide) on nthreads threads. */
SIM_TARGET static void simd_simulate(const void *x, int wide, int64_t blocks, const neuron_t *nr,
                                     double *y, double *code, int32_t *count, double dlo,
                                     double dhi, stats_t *total, int nthreads) {
    int64_t nonfinite = 0, outside = 0, spikes = 0;
    double mn = INFINITY, mx = -INFINITY;
#pragma omp parallel num_threads(nthreads) reduction(+:nonfinite,outside,spikes) \
    reduction(min:mn) reduction(max:mx)
    {
        vstats64_t st = vstats64_start(dlo, dhi);
        __m512i fired = _mm512_setzero_si512();
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t i = 8 * SIM_CHAINS * b;
            __m512d xv[SIM_CHAINS];
#pragma GCC unroll 8
            for (int k = 0; k < SIM_CHAINS; k++) {
                xv[k] = wide ? _mm512_loadu_pd((const double *)x + i + 8 * k)
                             : _mm512_cvtps_pd(_mm256_loadu_ps((const float *)x + i + 8 * k));
                vstats64_add(&st, xv[k]);
            }
            double *yi = y ? y + i : 0, *ci = code ? code + i : 0;
            int32_t *ki = count ? count + i : 0;
            if (y) simd_simulate_chains(nr, xv, 1, yi, ci, ki, &fired);
            else simd_simulate_chains(nr, xv, 0, yi, ci, ki, &fired);
        }
        VSTATS_REDUCE(st, pd, epi64);
        spikes = _mm512_reduce_add_epi64(fired);
    }
    merge(total, &(stats_t){nonfinite, outside, mn, mx, spikes});
}
#define SIMULATE_SIMD(WIDE)                                                                     \
    if (simd && has_simd_simulate() && n >= 8 * SIM_CHAINS) {                                   \
        const int64_t blocks = n / (8 * SIM_CHAINS);                                            \
        simd_simulate(x, WIDE, blocks, nr, y, code, count, (double)dlo, (double)dhi, &total,   \
                      nthreads);                                                                \
        done = 8 * SIM_CHAINS * blocks;                                                         \
    }
#else
#define SIMULATE_SIMD(WIDE) (void)simd;
#endif

#define DEFINE_SIMULATE(SUFFIX, REAL, WIDE)                                                     \
    void simulate_##SUFFIX(const REAL *x, int64_t n, const neuron_t *nr, double *y,            \
                           double *code, int32_t *count, REAL dlo, REAL dhi, double *stats,    \
                           int nthreads, int simd) {                                            \
        stats_t total = EMPTY_STATS;                                                            \
        int64_t done = 0;                                                                       \
        SIMULATE_SIMD(WIDE)                                                                     \
        const REAL *xs = x + done;                                                              \
        double *ys = y ? y + done : 0, *cs = code ? code + done : 0;                            \
        int32_t *ks = count ? count + done : 0;                                                 \
        n -= done;                                                                              \
        PARALLEL_SCALAR(LANES_SIMULATE(SUFFIX)(xs, from, to, nr, ys, cs, ks, dlo, dhi, &s));   \
        put(stats, &total);                                                                     \
    }

DEFINE_SIMULATE(f32, float, 0)
DEFINE_SIMULATE(f64, double, 1)
