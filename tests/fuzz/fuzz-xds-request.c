/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the xDS request parsers (xds-wire.h): the bytes
 * of a request come from any client of the ADS socket. The first byte
 * picks the message (even: DiscoveryRequest, odd: DeltaDiscoveryRequest),
 * the rest is parsed; it must end in 0 or -EBADMSG with a message, never
 * a crash, and what is accepted must hold only NUL-free UTF-8 strings
 * within the bounds. Inputs over 64 KiB are skipped. */
#include <assert.h>

#include "diag.h"
#include "xds-wire.h"

#define FUZZ_MAX_INPUT (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_string(const char *s) {
        if (s)
                assert(utf8_valid_prefix(s, strlen(s)) == strlen(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || size > FUZZ_MAX_INPUT)
                return 0;
        bool delta = data[0] & 1;
        XdsRequest req;
        char *error = NULL;
        int r = xds_request_parse(data + 1, size - 1, delta, &req, &error);
        if (r < 0) {
                assert(r == -EBADMSG && error && *error);
                free(error);
                return 0;
        }
        assert(!error);
        check_string(req.node_id);
        check_string(req.node_cluster);
        check_string(req.version_info);
        check_string(req.type_url);
        check_string(req.response_nonce);
        check_string(req.error_message);
        assert(req.n_names <= XDS_NAMES_MAX && req.n_unsubscribe <= XDS_NAMES_MAX && req.n_initial <= XDS_NAMES_MAX);
        for (size_t i = 0; i < req.n_names; i++)
                check_string(req.names[i]);
        for (size_t i = 0; i < req.n_initial; i++) {
                check_string(req.initial_names[i]);
                check_string(req.initial_versions[i]);
        }
        xds_request_done(&req);
        return 0;
}
