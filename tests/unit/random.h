/* SPDX-License-Identifier: MIT */
/* The unit tests' pseudo-random sequences (xorshift64): fixed seeds, so a
 * failure repeats. */
#pragma once

#include <stdint.h>

static inline unsigned xorshift_below(uint64_t *state, unsigned n) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        return (unsigned) (*state % n);
}
