/* What every loop family shares (included by each .c file of mbe/native).
 *
 * Exactness rules: plain IEEE-754 arithmetic in the input's precision, no fast-math, no
 * contraction into fused multiply-adds (-ffp-contract=off), so every value equals the one the
 * same sequence of torch operations produces. the tests hold them to that. Each
 * float32 loop has a scalar form and an AVX-512 form, and the lookup, the quantiser and the
 * softmax rows an AVX2 form, chosen at run time where the CPU has it and the `simd` level
 * allows it (`use_avx512`, `use_avx2`); every form does the same operations per element, so
 * they give the same bits.
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
#ifndef MBE_COMMON_H
#define MBE_COMMON_H
#include "structs.h"

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
static int has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#else
static int has_avx512(void) { return 0; }
static int has_avx2(void) { return 0; }
#endif
/* The vector loops a call may take, by its `simd` level (mbe.native.loader.SIMD): 0 the
 * portable loops only, 1 up to AVX2 (as on a CPU without AVX-512), 2 whatever the CPU has. */
static inline int use_avx512(int simd) { return simd >= 2 && has_avx512(); }
static inline int use_avx2(int simd) { return simd >= 1 && has_avx2(); }

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

/* The float32 vector loops' statistics over their OpenMP threads: VSTATS_PARALLEL declares
 * the reduced totals and opens the parallel region (the block follows it), VSTATS_REDUCE sets
 * one thread's totals at its end, VSTATS_MERGE adds them all into a stats_t. */
#define VSTATS_PARALLEL                                                                         \
    int64_t nonfinite = 0, outside = 0;                                                         \
    float mn = INFINITY, mx = -INFINITY;                                                        \
    _Pragma("omp parallel num_threads(nthreads) reduction(+:nonfinite,outside) reduction(min:mn) reduction(max:mx)")
#define VSTATS_MERGE(total) \
    merge(total, &(stats_t){nonfinite, outside, (double)mn, (double)mx, 0})

/* One thread's totals, for the OpenMP reductions. */
#define VSTATS_REDUCE(v, S, I)                                                                  \
    (mn = _mm512_reduce_min_##S((v).mn), mx = _mm512_reduce_max_##S((v).mx),                   \
     nonfinite = _mm512_reduce_add_##I((v).nonfinite),                                          \
     outside = _mm512_reduce_add_##I((v).outside))

/* The same statistics of float32 inputs in 8 AVX2 lanes (the AVX2 loops'). */
typedef struct { __m256 mn, mx, dlo, dhi; __m256i outside, nonfinite; } vstats8_t;

__attribute__((target("avx2")))
static inline vstats8_t vstats8_start(float dlo, float dhi) {
    vstats8_t v = {_mm256_set1_ps(INFINITY), _mm256_set1_ps(-INFINITY), _mm256_set1_ps(dlo),
                   _mm256_set1_ps(dhi), _mm256_setzero_si256(), _mm256_setzero_si256()};
    return v;
}

__attribute__((target("avx2")))
static inline void vstats8_add(vstats8_t *v, __m256 x) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256 fin = _mm256_cmp_ps(_mm256_and_ps(x, magnitude), _mm256_set1_ps(INFINITY),
                                     _CMP_LT_OQ);
    v->mn = _mm256_blendv_ps(v->mn, _mm256_min_ps(v->mn, x), fin);
    v->mx = _mm256_blendv_ps(v->mx, _mm256_max_ps(v->mx, x), fin);
    const __m256 o = _mm256_or_ps(_mm256_cmp_ps(x, v->dlo, _CMP_LT_OQ),
                                  _mm256_cmp_ps(x, v->dhi, _CMP_GT_OQ));
    v->outside = _mm256_sub_epi32(v->outside, _mm256_castps_si256(o)); /* true lanes are -1 */
    v->nonfinite = _mm256_add_epi32(v->nonfinite,
                                    _mm256_andnot_si256(_mm256_castps_si256(fin),
                                                        _mm256_set1_epi32(1)));
}

/* One thread's totals of 8-lane statistics, for VSTATS_PARALLEL's reductions. */
__attribute__((target("avx2")))
static inline void vstats8_reduce(const vstats8_t *v, float *mn, float *mx, int64_t *outside,
                                  int64_t *nonfinite) {
    float lane_mn[8], lane_mx[8];
    int32_t lane_out[8], lane_nonfinite[8];
    _mm256_storeu_ps(lane_mn, v->mn);
    _mm256_storeu_ps(lane_mx, v->mx);
    _mm256_storeu_si256((__m256i *)lane_out, v->outside);
    _mm256_storeu_si256((__m256i *)lane_nonfinite, v->nonfinite);
    for (int l = 0; l < 8; l++) {
        if (lane_mn[l] < *mn) *mn = lane_mn[l];
        if (lane_mx[l] > *mx) *mx = lane_mx[l];
        *outside += lane_out[l];
        *nonfinite += lane_nonfinite[l];
    }
}

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


#endif /* MBE_COMMON_H */
