/* SPDX-License-Identifier: MIT */
/* placeholder: being written (issue 16) */
#include "xds.h"
