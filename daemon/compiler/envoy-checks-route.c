/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: the route family (see envoy-checks.h and
 * docs/envoy-checks.md). */
#include "envoy-checks.h"

const Check envoy_checks_route[] = {
        { NULL },
};
