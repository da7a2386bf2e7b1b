/* SPDX-License-Identifier: MIT */
/* org.freedesktop.LogControl1 (systemd's org.freedesktop.LogControl1(5)):
 * the properties LogLevel and LogTarget (read-write) and SyslogIdentifier
 * (read-only) on /org/freedesktop/LogControl1, backed by daemon/basic's
 * logging. The connection lives on the Manager's sd-event loop: no
 * thread, no blocking call after the connect. */
#include <systemd/sd-bus.h>

#include "logcontrol.h"
#include "logging.h"

#define LOGCONTROL_PATH "/org/freedesktop/LogControl1"
#define LOGCONTROL_INTERFACE "org.freedesktop.LogControl1"

struct LogControl {
        sd_bus *bus;
        sd_bus_slot *name_slot;
        sd_bus_slot *filter_slot;
};

/* The D-Bus policy lets only root send to us; this is the daemon's own
 * check behind it. sd-bus's check of a writable property (the
 * org.freedesktop.systemd1.Privileged annotation) lets through a sender
 * with the daemon's own uid too (fsxds): a change of the log level is an
 * administrator's, so root only. */
static int check_sender_is_root(sd_bus_message *m, const char *property, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t euid;
        int r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &euid);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "fsxdsd cannot tell who asks to change %s (%s): refused", property,
                                         strerror(-r));
        if (euid != 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "only root may change fsxdsd's %s (the caller's uid is %u)", property,
                                         (unsigned) euid);
        return 0;
}

static void emit_changed(sd_bus *bus, const char *property) {
        int r = sd_bus_emit_properties_changed(bus, LOGCONTROL_PATH, LOGCONTROL_INTERFACE, property, NULL);
        if (r < 0)
                log_debug(NULL, "LogControl1: cannot emit PropertiesChanged for %s: %s", property, strerror(-r));
}

static int get_log_level(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_level_to_string(log_get_max_level()));
}

/* A Set's string, once the sender is known to be root. */
static int read_set_value(sd_bus_message *value, const char *property, sd_bus_error *error, const char **ret) {
        int r = sd_bus_message_read(value, "s", ret);
        if (r < 0)
                return r;
        return check_sender_is_root(value, property, error);
}

static int set_log_level(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *value, void *userdata, sd_bus_error *error) {
        const char *s;
        int r = read_set_value(value, property, error, &s);
        if (r < 0)
                return r;
        int level = log_level_from_string(s);
        if (level < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid log level '%s' (emerg, alert, crit, err, warning, notice, info, "
                                         "debug)", s);
        int old = log_get_max_level();
        if (level == old)
                return 0;
        /* said at info, where it shows: before a change that hides info, after one that shows it */
        bool before = old >= LOG_INFO && level < LOG_INFO;
        if (before)
                log_info(NULL, "log level %s (was %s), set through LogControl1", log_level_to_string(level),
                         log_level_to_string(old));
        log_set_max_level(level);
        if (!before)
                log_info(NULL, "log level %s (was %s), set through LogControl1", log_level_to_string(level),
                         log_level_to_string(old));
        emit_changed(bus, property);
        return 0;
}

static int get_log_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_target_to_string(log_get_target()));
}

static int set_log_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *value, void *userdata, sd_bus_error *error) {
        const char *s;
        int r = read_set_value(value, property, error, &s);
        if (r < 0)
                return r;
        LogTarget t = log_target_from_string(s);
        if (t == -EOPNOTSUPP)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Log target '%s' is not supported by fsxdsd (it logs to the journal or "
                                         "stderr: auto, journal, console, null)", s);
        if (t < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid log target '%s' (auto, journal, console, null)", s);
        LogTarget old = log_get_target();
        if (t == old)
                return 0;
        /* in the old target and the new one, so neither loses the thread */
        log_info(NULL, "log target %s (was %s), set through LogControl1", log_target_to_string(t),
                 log_target_to_string(old));
        log_set_target(t);
        log_info(NULL, "log target %s (was %s), set through LogControl1", log_target_to_string(t),
                 log_target_to_string(old));
        emit_changed(bus, property);
        return 0;
}

static int get_syslog_identifier(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", "fsxdsd");
}

/* No SD_BUS_VTABLE_UNPRIVILEGED: the setters are privileged for sd-bus too
 * (and introspect with org.freedesktop.systemd1.Privileged, as the
 * specification's do). EMITS_CHANGE: a change is signalled, which the
 * specification does not require (its properties say
 * EmitsChangedSignal "false"); a client that follows it loses nothing. */
static const sd_bus_vtable logcontrol_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_WRITABLE_PROPERTY("LogLevel", "s", get_log_level, set_log_level, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_WRITABLE_PROPERTY("LogTarget", "s", get_log_target, set_log_target, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SyslogIdentifier", "s", get_syslog_identifier, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

/* RequestName's answer: 1 primary owner; 3 (exists: another process has
 * it, and the request was not queued) or an error (the policy) are said
 * once at info. */
static int on_name_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);
        uint32_t answer = 0;
        if (!e && sd_bus_message_read(m, "u", &answer) >= 0 && (answer == 1 || answer == 4)) {
                log_debug(NULL, "on the system bus as " LOGCONTROL_BUS_NAME " (LogControl1)");
                return 0;
        }
        log_info(NULL, "the system bus did not give fsxdsd the name " LOGCONTROL_BUS_NAME " (%s); systemctl "
                 "service-log-level cannot reach it",
                 e ? (e->message ? e->message : e->name) : answer == 3 ? "another process owns it" : "no answer");
        return 0;
}

/* Every message passes here first: the one that matters is sd-bus's own
 * Disconnected, when the bus went away (dbus stopped, or the connection
 * failed after the connect). Said once; sd-bus has closed the connection
 * and detached it from the loop, which goes on. */
static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.Local", "Disconnected"))
                log_info(NULL, "the system bus connection is closed; LogControl1 is gone until fsxdsd restarts");
        return 0;
}

int logcontrol_start(sd_event *event, LogControl **ret) {
        _cleanup_(logcontrol_freep) LogControl *lc = xcalloc(1, sizeof(LogControl));
        int r = sd_bus_open_system(&lc->bus);
        if (r < 0) {
                log_info(NULL, "no system bus (%s): LogControl1 not offered, systemctl service-log-level cannot "
                         "reach fsxdsd", strerror(-r));
                *ret = NULL;
                return 0;
        }
        r = sd_bus_set_exit_on_disconnect(lc->bus, false);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(lc->bus, NULL, LOGCONTROL_PATH, LOGCONTROL_INTERFACE, logcontrol_vtable, lc);
        if (r < 0)
                return r;
        r = sd_bus_add_filter(lc->bus, &lc->filter_slot, on_message, lc);
        if (r < 0)
                return r;
        r = sd_bus_request_name_async(lc->bus, &lc->name_slot, LOGCONTROL_BUS_NAME, 0, on_name_reply, lc);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(lc->bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(lc);
        return 0;
}

LogControl *logcontrol_free(LogControl *lc) {
        if (!lc)
                return NULL;
        sd_bus_slot_unref(lc->name_slot);
        sd_bus_slot_unref(lc->filter_slot);
        if (lc->bus) {
                sd_bus_detach_event(lc->bus);
                sd_bus_flush_close_unref(lc->bus);
        }
        free(lc);
        return NULL;
}
