#include "common.h"

/* The softmax's 2^x table keyed by f's fixed-point value (mbe/native/tables.py `Fractions`).
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

/* A row's sum in the one order every softmax path uses (mbe/native/softmax.py `row_sums`): 16
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

/* Elements [from, to) of a row with maximum m (see above). */
static void scalar_softmax_elements(const float *xr, int64_t from, int64_t to, float m,
                                    float log2e, const fractions_t *num, float *er,
                                    int32_t *ir, int64_t *nans, int64_t *evaluated, double *mn,
                                    double *mx) {
    for (int64_t c = from; c < to; c++) {
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

/* One row's numerator: its maximum into rowmax, e and piece indices, counts and f's range. */
typedef void softmax_row_t(const float *xr, int64_t cols, float *rowmax, float log2e,
                           const fractions_t *num, float *er, int32_t *ir, int64_t *nans,
                           int64_t *evaluated, double *mn, double *mx);

static void scalar_softmax_row(const float *xr, int64_t cols, float *rowmax, float log2e,
                               const fractions_t *num, float *er, int32_t *ir, int64_t *nans,
                               int64_t *evaluated, double *mn, double *mx) {
    const float m = *rowmax = row_max(xr, cols);
    scalar_softmax_elements(xr, 0, cols, m, log2e, num, er, ir, nans, evaluated, mn, mx);
}

#ifdef MBE_X86
/* scalar_softmax_row in 8 AVX2 lanes, for CPUs without AVX-512 (the same operations per
 * element; a row's last cols mod 8 elements run the scalar loop). fraction_index reads each
 * lane's 64-bit record with two 4-lane gathers; lanes whose cell overflowed go on with the
 * scalar count_on. Lanes not evaluated take f = 0 (a valid table index) and are overwritten. */
__attribute__((target("avx2")))
static void avx2_softmax_row(const float *xr, int64_t cols, float *rowmax, float log2e,
                             const fractions_t *num, float *er, int32_t *ir, int64_t *nans,
                             int64_t *evaluated, double *mn, double *mx) {
    const float m = *rowmax = row_max(xr, cols);
    const __m256 vm = _mm256_set1_ps(m), vlog2e = _mm256_set1_ps(log2e);
    const __m256 low = _mm256_set1_ps(-126.0f), scale = _mm256_set1_ps(FRACTION_SCALE);
    const __m256i byte = _mm256_set1_epi32(0xFF), cell_mask = _mm256_set1_epi32(CELL_MASK);
    const __m256i ones = _mm256_set1_epi32(-1);
    const __m256i split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7); /* low words, high words */
    __m256 vmn = _mm256_set1_ps(INFINITY), vmx = _mm256_set1_ps(-INFINITY);
    __m256i vnans = _mm256_setzero_si256(), vevals = _mm256_setzero_si256();
    const int64_t vectors = cols / 8 * 8;
    for (int64_t c = 0; c < vectors; c += 8) {
        const __m256 z = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + c), vm), vlog2e);
        const __m256 nan = _mm256_cmp_ps(z, z, _CMP_UNORD_Q);
        const __m256 keep = _mm256_cmp_ps(z, low, _CMP_GE_OQ);
        const __m256 k = _mm256_round_ps(z, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        const __m256 f = _mm256_and_ps(_mm256_sub_ps(z, k), keep);
        const __m256i j = _mm256_cvttps_epi32(_mm256_mul_ps(f, scale));
        const __m256i cell = _mm256_srli_epi32(j, CELL_SHIFT);
        const long long *records = (const long long *)num->records;
        const __m256i a = _mm256_permutevar8x32_epi32(
            _mm256_i32gather_epi64(records, _mm256_castsi256_si128(cell), 8), split);
        const __m256i b = _mm256_permutevar8x32_epi32(
            _mm256_i32gather_epi64(records, _mm256_extracti128_si256(cell, 1), 8), split);
        const __m256i lo = _mm256_permute2x128_si256(a, b, 0x20); /* bits 0-31 of records */
        const __m256i hi = _mm256_permute2x128_si256(a, b, 0x31); /* bits 32-63 */
        const __m256i off = _mm256_and_si256(j, cell_mask);
        __m256i p = _mm256_and_si256(lo, _mm256_set1_epi32(BASE_BITS));
        /* p += off >= slot for each of the five slot offsets (all below 256: signed compares;
         * not (slot > off) is -1 where it holds) */
        p = _mm256_sub_epi32(p, _mm256_xor_si256(_mm256_cmpgt_epi32(_mm256_srli_epi32(lo, 24),
                                                                    off), ones));
        for (int shift = 0; shift < 32; shift += 8) {
            const __m256i slot = _mm256_and_si256(_mm256_srli_epi32(hi, shift), byte);
            p = _mm256_sub_epi32(p, _mm256_xor_si256(_mm256_cmpgt_epi32(slot, off), ones));
        }
        const int over = _mm256_movemask_ps(_mm256_and_ps(
            _mm256_castsi256_ps(_mm256_cmpeq_epi32(
                _mm256_and_si256(lo, _mm256_set1_epi32(OVERFLOW_BIT)),
                _mm256_set1_epi32(OVERFLOW_BIT))), keep));
        if (over) {
            int32_t lane_p[8];
            float lane_f[8];
            _mm256_storeu_si256((__m256i *)lane_p, p);
            _mm256_storeu_ps(lane_f, f);
            for (int l = 0; l < 8; l++)
                if (over >> l & 1) lane_p[l] = count_on(num->brk, num->count, lane_p[l], lane_f[l]);
            p = _mm256_loadu_si256((const __m256i *)lane_p);
        }
        const __m256 v = _mm256_i32gather_ps(num->vals, p, 4);
        const __m256 two_k = _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_and_ps(k, keep)), _mm256_set1_epi32(127)),
            23));
        const __m256 e = _mm256_blendv_ps(_mm256_and_ps(nan, _mm256_set1_ps(NAN)),
                                          _mm256_mul_ps(v, two_k), keep);
        _mm256_storeu_ps(er + c, e);
        if (ir)
            _mm256_storeu_si256((__m256i *)(ir + c),
                                _mm256_blendv_epi8(_mm256_set1_epi32(-1), p,
                                                   _mm256_castps_si256(keep)));
        vnans = _mm256_sub_epi32(vnans, _mm256_castps_si256(nan));
        vevals = _mm256_sub_epi32(vevals, _mm256_castps_si256(keep));
        vmn = _mm256_blendv_ps(vmn, _mm256_min_ps(vmn, f), keep);
        vmx = _mm256_blendv_ps(vmx, _mm256_max_ps(vmx, f), keep);
    }
    float lane_mn[8], lane_mx[8];
    int32_t lane_nans[8], lane_evals[8];
    _mm256_storeu_ps(lane_mn, vmn);
    _mm256_storeu_ps(lane_mx, vmx);
    _mm256_storeu_si256((__m256i *)lane_nans, vnans);
    _mm256_storeu_si256((__m256i *)lane_evals, vevals);
    for (int l = 0; l < 8; l++) {
        if ((double)lane_mn[l] < *mn) *mn = (double)lane_mn[l];
        if ((double)lane_mx[l] > *mx) *mx = (double)lane_mx[l];
        *nans += lane_nans[l];
        *evaluated += lane_evals[l];
    }
    scalar_softmax_elements(xr, vectors, cols, m, log2e, num, er, ir, nans, evaluated, mn, mx);
}

/* The row loop a call takes at its `simd` level (the AVX-512 path has its own, by blocks). */
#define SOFTMAX_ROW (use_avx2(simd) ? avx2_softmax_row : scalar_softmax_row)
#else
#define SOFTMAX_ROW scalar_softmax_row
#endif

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
    const int vector = use_avx512(simd);
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
            softmax_row_t *const softmax_row = SOFTMAX_ROW;
            for (int64_t r = r0; r < r1; r++) {
                float *er = e + r * cols;
                softmax_row(x + r * cols, cols, rowmax + r, log2e, num, er,
                            idx_out ? idx_out + r * cols : 0, &nans, &evaluated, &mn, &mx);
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

