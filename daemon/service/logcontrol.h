/* SPDX-License-Identifier: MIT */
/* org.freedesktop.LogControl1 on the system bus, so that `systemctl
 * service-log-level fsxdsd debug` and `service-log-target` reach the
 * daemon (the unit's BusName= names the bus name). Optional by design:
 * where there is no system bus fsxdsd runs as it would without it. */
#pragma once

#include <systemd/sd-event.h>

#include "util.h"

/* The bus name fsxdsd owns (units/fsxdsd.service.in's BusName=, the D-Bus
 * policy units/org.fsxds.fsxdsd.conf). */
#define LOGCONTROL_BUS_NAME "org.fsxds.fsxdsd"

typedef struct LogControl LogControl;

/* Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS, else the standard
 * socket), attaches the connection to the event loop, serves
 * /org/freedesktop/LogControl1 and asks for the bus name, without waiting
 * for the answer. No bus (no socket, an address that leads nowhere) is
 * not an error: it is logged once at info and *ret is NULL; so is the
 * loss of the connection later. Returns 0, or -errno on allocation or
 * programming errors only. */
int logcontrol_start(sd_event *event, LogControl **ret);
LogControl *logcontrol_free(LogControl *lc);
DEFINE_TRIVIAL_CLEANUP_FUNC(LogControl *, logcontrol_free);
