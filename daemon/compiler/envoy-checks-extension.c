/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: the extension family (see envoy-checks.h and
 * docs/envoy-checks.md). */
#include "envoy-checks.h"

const Check envoy_checks_extension[] = {
        { NULL },
};
