/* SPDX-License-Identifier: MIT */
/* What fsxdsd does with the requests fsxds leaves in state_dir
 * (statedir.h): removal allowances, whose lifetime the nodes' state shows,
 * and fsxds forget; and the lock on state_dir that tells fsxds it runs.
 * It acts on State, as rebuild.c and upkeep.c do, and knows nothing of the
 * loop: the manager polls Requests.fd and takes forget requests only
 * between rebuilds. */
#pragma once

#include "state.h"

/* What fsxdsd holds of state_dir while it runs: the shared lock fsxds
 * forget looks for, and one fd for the manager to poll, readable when
 * allow-removal/ or forget/ change or an allowance expires (an epoll of
 * an inotify watch and a CLOCK_REALTIME timerfd). */
typedef struct Requests {
        int fd;                 /* -EBADF: no watch (requests are then taken after every rebuild) */
        int inotify_fd, timer_fd;
        int allow_wd, forget_wd, rollback_wd, pin_wd;
        int lock_fd;
        int instance_fd;        /* LOCK_EX on <state_dir>/nodes: one fsxdsd a state_dir, kept across reloads */
} Requests;

#define REQUESTS_NULL \
        ((Requests) { .fd = -EBADF, .inotify_fd = -EBADF, .timer_fd = -EBADF, .allow_wd = -1, .forget_wd = -1, \
                      .rollback_wd = -1, .pin_wd = -1, \
                      .lock_fd = -EBADF, .instance_fd = -EBADF })

/* What the pending events say (an inotify overflow: all of it). */
enum {
        REQUESTS_ALLOWANCES = 1 << 0,     /* allow-removal/ changed, or an allowance expired */
        REQUESTS_ALLOWANCE_MADE = 1 << 1, /* an allowance was made */
        REQUESTS_FORGET = 1 << 2,         /* forget/ got a request */
        REQUESTS_ROLLBACK = 1 << 3,       /* rollback/ got a request or pin/ changed: taken with forget/'s,
                                           * then a rebuild */
};

/* (Re)opens q for state_dir: takes the lock (waiting while an fsxds
 * forget holds it) and makes the directories and the watch. Returns 0, or
 * -errno when the lock cannot be taken (logged). A watch that cannot be
 * made is logged and q->fd is -EBADF. */
int requests_open(Requests *q, const char *state_dir);
/* Closes what q holds (the lock too); q is REQUESTS_NULL after. */
void requests_close(Requests *q);
/* Reads the pending events: a mask of the REQUESTS_* above. */
unsigned requests_read(Requests *q);

/* Reads allow-removal/ into each node's allowance_usec; one older than
 * STATEDIR_ALLOWANCE_USEC is removed unused (and logged), and q's timer
 * is armed at the next expiry. When a node's changed and write_status,
 * status.json is written. An allowance of a node with no NodeState yet
 * shows from the next call after it has one. */
void requests_sync_allowances(State *st, Requests *q, bool write_status);

/* The node's next generation is being published: an armed allowance it
 * did not need is used up by it too (logged). */
void requests_allowance_spent(State *st, NodeState *ns);

/* Takes every request in forget/: a node fsxds would refuse (in the tree,
 * in nodes:) is refused (logged); otherwise its output, last good copy and
 * allowance are removed, its NodeState dropped (node_state_drop()), the
 * stores collected, "node ID forgotten (fsxds forget)" logged. Then
 * status.json is written (unless write_status is false: at start the first
 * rebuild writes it) and the requests are removed, last: fsxds, which
 * waits for that, finds the status as the disk is. Never during a
 * rebuild. Returns how many were taken. */
size_t requests_forget(State *st, bool write_status);
/* (requests_forget() then takes rollback/ and pin/: rollback_requests().) */
