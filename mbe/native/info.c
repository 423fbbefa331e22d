/* What this build is: the CPU features its vector loops use, whether OpenMP is in, and the
 * sizes and field offsets of the structs in structs.h, for the test that holds their ctypes
 * mirrors (mbe/native/structs.py) to them: a build whose padding or field order differs from
 * what Python writes fails that test instead of reading the wrong bytes. */
#include <stddef.h>

#include "common.h"

int mbe_has_avx512(void) { return has_avx512(); }

int mbe_has_avx2(void) { return has_avx2(); }

int mbe_has_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

#define FIELD(T, F) offsetof(T, F)

/* Writes, for fractions_t, denom_t and neuron_t in that order, sizeof and then each field's
 * offset in declaration order; returns the number of values written (at most cap). */
int64_t mbe_struct_layout(int64_t *out, int64_t cap) {
    const int64_t values[] = {
        sizeof(fractions_t), FIELD(fractions_t, records), FIELD(fractions_t, vals),
        FIELD(fractions_t, brk), FIELD(fractions_t, count),
        sizeof(denom_t), FIELD(denom_t, lo), FIELD(denom_t, inv), FIELD(denom_t, cells),
        FIELD(denom_t, base), FIELD(denom_t, brk), FIELD(denom_t, maxc), FIELD(denom_t, vals),
        FIELD(denom_t, dlo), FIELD(denom_t, dhi),
        sizeof(neuron_t), FIELD(neuron_t, steps), FIELD(neuron_t, bases), FIELD(neuron_t, vth),
        FIELD(neuron_t, r), FIELD(neuron_t, d), FIELD(neuron_t, shift), FIELD(neuron_t, scale),
        FIELD(neuron_t, weight), FIELD(neuron_t, bias),
    };
    const int64_t n = (int64_t)(sizeof(values) / sizeof(values[0]));
    for (int64_t i = 0; i < n && i < cap; i++) out[i] = values[i];
    return n;
}
