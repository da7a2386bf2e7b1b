/* SPDX-License-Identifier: MIT */
/* The daemon's side of the xDS server (daemon/ads): it starts, moves and
 * stops the server as the configuration's ads: says, turns each node's
 * build into the snapshot the server serves it (the same files, their
 * config sources wired to ADS), tells the journal what clients ACK and
 * NACK, and gives status.json the server's view. */
#pragma once

#include <systemd/sd-event.h>

#include "state.h"
#include "status.h"

/* After the configuration is (re)loaded: listens as ads: says (a changed
 * listener replaces the old one, the connections stay), or stops the
 * server when ads: is gone. A listener that cannot be made is logged and
 * kept for status; the daemon goes on. changed is called (50 ms after
 * the first of a burst) when what clients said should reach status.json. */
void adsfeed_configure(State *st, sd_event *e, void (*changed)(State *st));
void adsfeed_free(State *st);
/* The node's build becomes its snapshot: out is the whole build, or, with
 * touched (sorted paths), the files of it that changed since the previous
 * one (a touched path out has no file for is gone). Nothing when ads: is
 * off. */
void adsfeed_node(State *st, NodeState *ns, const NodeOutput *out, char *const *touched, size_t n_touched);
/* Whether node id is the name of the xDS server's unix socket in
 * output_dir (ads.listen: unix:/run/fsxds/ads.sock and a node "ads.sock"):
 * -EBADMSG with the error in diags (the node is not built: its directory
 * would replace the socket), 0 otherwise. */
int adsfeed_name_clash(const State *st, const char *id, DiagList *diags);
/* fsxdsd --check-config: ads.tls's files load (logged when not). */
int adsfeed_check_config(const Config *c);
/* fsxds forget */
void adsfeed_forget(State *st, const char *id);
/* After a rebuild: resources no snapshot holds any more are let go. */
void adsfeed_sweep(State *st);
/* status.json's "ads" and each node's "ads" */
void adsfeed_status(State *st, Status *s);
/* metrics_file's fsxds_ads_* families (nothing when ads: is off). */
void adsfeed_metrics(const State *st, Buf *b);
