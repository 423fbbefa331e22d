/* The structs mbe/native mirrors in Python (mbe/native/structs.py, ctypes), in one place.
 * A test (tests/test_native.py) compares their sizes and field offsets on both sides through
 * mbe_struct_layout (info.c). */
#ifndef MBE_STRUCTS_H
#define MBE_STRUCTS_H
#include <stdint.h>

/* The softmax's 2^x table keyed by f's fixed-point value (softmax.c; `Fractions` in Python). */
typedef struct {
    const uint64_t *records;
    const float *vals; /* (count + 1,) the values */
    const float *brk;  /* (count,) the breaks rounded up to float32 */
    int64_t count;
} fractions_t;

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

/* One neuron's kernels and readout for the time-stepped simulation (simulate.c). */
typedef struct {
    int64_t steps, bases;
    const double *vth, *r, *d; /* (T, N), row-major */
    const double *shift, *scale, *weight;
    double bias;
} neuron_t;

#endif /* MBE_STRUCTS_H */
