/* SPDX-License-Identifier: MIT */
/* The watch on the signing key, certificate and chain files: an inotify
 * on their directories, and a timer that fires once writes there have
 * settled (settle), when the manager loads the pair again. */
#pragma once

#include <errno.h>
#include <systemd/sd-event.h>

#include "config.h"

typedef struct SigningWatch {
        int fd;                        /* inotify on the directories of the key, cert and chain */
        sd_event_source *source, *timer;
        const SigningConfig *signing;  /* what is watched (the config's; NULL: nothing) */
        uint64_t settle_usec;
} SigningWatch;

#define SIGNING_WATCH_NULL ((SigningWatch) { .fd = -EBADF })

/* (Re)makes w for config's signing files: on_settled(userdata) runs once
 * writes to one of them have settled. Nothing is watched without
 * signing. 0 or -errno. */
int signing_watch_setup(SigningWatch *w, sd_event *event, const Config *config,
                        sd_event_time_handler_t on_settled, void *userdata);
/* Frees what w holds; w is SIGNING_WATCH_NULL after. */
void signing_watch_close(SigningWatch *w);
