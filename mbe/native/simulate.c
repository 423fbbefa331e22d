#include "common.h"

/* Time-stepped simulation (Eqs. 5-8), the engine of "spike" mode (mbe/core/simulator.py).
 * For every element x (as a double) and basis n, for t = 0 .. T-1, the float64 operations of
 * mbe/core/dynamics.py:
 *   u = (x - shift[n]) * scale[n];   s = (u - vth[t][n] >= 0);
 *   u = u - s r[t][n];               o = o + s d[t][n]
 * and, per element (each output may be NULL), with q = sum over bases of
 * word_n = sum_t s_n[t] 2^(T-1-t) (basis n's spike train read as a binary number; summed over
 * bases, the identity encoder's code):
 *   y[i]      the decoded output: w[0] o_0 + w[1] o_1 + ... in basis order, then + bias (as
 *             dynamics.decode sums); NaN where x is NaN
 *   code[i]   q; NaN where x is NaN
 *   count[i]  spikes fired over all bases and steps (also summed into the stats)
 * A NaN x fires nothing. The comparison u >= vth is (u - vth >= 0) of mbe/core/dynamics.py:
 * for finite vth the two agree on every double u (gradual underflow keeps the sign of a
 * difference; the caller checks vth finite). T <= 62 (checked by the caller). The struct
 * neuron_t (structs.h) carries the kernels and the readout. */

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
DEFINE_LANES_SIMULATE(lanes_simulate_avx2_f32, float, __attribute__((target("avx2"))))
DEFINE_LANES_SIMULATE(lanes_simulate_avx2_f64, double, __attribute__((target("avx2"))))
/* The lane loop for the elements the AVX-512 loop leaves (all of them without AVX-512). */
#define LANES_SIMULATE(SUFFIX) \
    (use_avx2(simd) ? lanes_simulate_avx2_##SUFFIX : lanes_simulate_##SUFFIX)
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
    if (simd >= 2 && has_simd_simulate() && n >= 8 * SIM_CHAINS) {                              \
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

