/* Fused CPU loops for the operators' exact fast path (compiled on first use by mbe/kernels.py).
 *
 * Exactness rules: plain IEEE-754 arithmetic in the input's precision, no fast-math, no
 * contraction into fused multiply-adds (-ffp-contract=off), so every value equals the one the
 * same sequence of torch operations produces. mbe/kernels.py tests hold them to that.
 *
 * Bucketed staircase index. A staircase with K breaks b[0..K-1] (ascending, already rounded
 * up to the input precision) maps x to idx(x) = #{k : x >= b[k]}. Cell j(x) = trunc(clamp((x -
 * lo) * inv, 0, cells - 1)) is monotone in x, so every break in a lower cell is <= x and every
 * break in a higher cell is > x; base[j] counts the breaks in cells below j and only the breaks
 * of x's own cell, base[j] .. base[j + 1], are searched (by bisection). brk has K + 1 entries,
 * the last +inf, so the one-break case needs no branch.
 */
#include <math.h>
#include <stdint.h>

#define DEFINE_INDEX(REAL)                                                                      \
    static inline int64_t stair_index_##REAL(REAL x, REAL lo, REAL inv, int64_t cells,         \
                                             const int32_t *base, const REAL *brk) {           \
        REAL v = (x - lo) * inv;                                                                \
        if (!(v > (REAL)0)) v = (REAL)0;                                                        \
        if (v > (REAL)(cells - 1)) v = (REAL)(cells - 1);                                       \
        const int64_t j = (int64_t)v;                                                           \
        int64_t a = base[j], b = base[j + 1];                                                   \
        if (b - a <= 1) /* the common case, branch-free: brk[K] is a padding +inf */            \
            return a + ((a < b) & (x >= brk[a]));                                               \
        while (a < b) {                                                                         \
            int64_t mid = a + ((b - a) >> 1);                                                   \
            if (x >= brk[mid]) a = mid + 1; else b = mid;                                       \
        }                                                                                       \
        return a;                                                                               \
    }

DEFINE_INDEX(float)
DEFINE_INDEX(double)

/* out[i] = vals[idx(x[i])] (NaN for NaN; OUT may be wider than REAL), idx_out[i] = idx (-1 for
 * NaN) when not NULL. stats (4 doubles, out): non-finite count, count outside [dlo, dhi], finite min, finite max. */
#define DEFINE_LOOKUP(SUFFIX, REAL, OUT)                                                        \
    void stair_lookup_##SUFFIX(const REAL *x, int64_t n, REAL lo, REAL inv, int64_t cells,     \
                               const int32_t *base, const REAL *brk, const OUT *vals,          \
                               OUT *out, int32_t *idx_out, double dlo, double dhi,             \
                               double *stats, int nthreads) {                                  \
        int64_t nonfinite = 0, outside = 0;                                                     \
        double mn = INFINITY, mx = -INFINITY;                                                   \
        _Pragma("omp parallel for num_threads(nthreads) reduction(+:nonfinite,outside) reduction(min:mn) reduction(max:mx)") \
        for (int64_t i = 0; i < n; i++) {                                                       \
            REAL xi = x[i];                                                                     \
            if (xi != xi) {                                                                     \
                nonfinite++;                                                                    \
                if (out) out[i] = (OUT)NAN;                                                     \
                if (idx_out) idx_out[i] = -1;                                                   \
                continue;                                                                       \
            }                                                                                   \
            if (isinf(xi)) nonfinite++;                                                         \
            else {                                                                              \
                if ((double)xi < mn) mn = (double)xi;                                           \
                if ((double)xi > mx) mx = (double)xi;                                           \
            }                                                                                   \
            if ((double)xi < dlo || (double)xi > dhi) outside++;                                \
            int64_t k = stair_index_##REAL(xi, lo, inv, cells, base, brk);                      \
            if (out) out[i] = vals[k];                                                          \
            if (idx_out) idx_out[i] = (int32_t)k;                                               \
        }                                                                                       \
        stats[0] = (double)nonfinite; stats[1] = (double)outside; stats[2] = mn; stats[3] = mx; \
    }

DEFINE_LOOKUP(f32, float, float)
DEFINE_LOOKUP(f32_f64, float, double)
DEFINE_LOOKUP(f64, double, double)

/* Softmax numerator (Eq. 13) for rows of a contiguous (rows, cols) float32 tensor:
 *   m = max of the row (NaN if the row holds a NaN, as torch.amax), written to rowmax
 *   z = (x - m) * log2e;  k = floor(z);  f = z - k;  e = vals[idx(f)] * 2^k (exact)
 * with e = 0 where z < -126 (below float32's normal range: flushed, the 2^x neuron not run),
 * e = NaN where z is NaN. idx_out gets the piece index (-1 where flushed or NaN).
 * stats: [0] NaN count, [1] evaluated count, [2] min f, [3] max f. */
void softmax_exp_f32(const float *x, int64_t rows, int64_t cols, float *rowmax,
                     float log2e, float lo, float inv, int64_t cells, const int32_t *base,
                     const float *brk, const float *vals, float *e, int32_t *idx_out,
                     double *stats, int nthreads) {
    int64_t nans = 0, evaluated = 0;
    double mn = INFINITY, mx = -INFINITY;
#pragma omp parallel for num_threads(nthreads) \
    reduction(+:nans,evaluated) reduction(min:mn) reduction(max:mx)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float m = -INFINITY;
        for (int64_t c = 0; c < cols; c++) {
            if (xr[c] != xr[c]) { m = NAN; break; }
            if (xr[c] > m) m = xr[c];
        }
        rowmax[r] = m;
        for (int64_t c = 0; c < cols; c++) {
            const int64_t i = r * cols + c;
            const float z = (xr[c] - m) * log2e;
            if (z != z) {
                nans++;
                e[i] = NAN;
                if (idx_out) idx_out[i] = -1;
                continue;
            }
            if (!(z >= -126.0f)) {
                e[i] = 0.0f;
                if (idx_out) idx_out[i] = -1;
                continue;
            }
            const float k = floorf(z);
            const float f = z - k;
            const int64_t p = stair_index_float(f, lo, inv, cells, base, brk);
            evaluated++;
            if ((double)f < mn) mn = (double)f;
            if ((double)f > mx) mx = (double)f;
            /* times 2^k, k in [-126, 0]: an exact power of two built from its exponent bits */
            union { uint32_t u; float f; } pow2 = {.u = (uint32_t)((int32_t)k + 127) << 23};
            e[i] = vals[p] * pow2.f;
            if (idx_out) idx_out[i] = (int32_t)p;
        }
    }
    stats[0] = (double)nans; stats[1] = (double)evaluated; stats[2] = mn; stats[3] = mx;
}
