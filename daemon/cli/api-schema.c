/* SPDX-License-Identifier: MIT */
/* fsxds schema: what a schema is (info) and how to make one from an Envoy
 * API checkout (build, which runs protoc through schema-build). */
#include "descriptor.pb-c.h"

#include "cli.h"
#include "schema-build.h"
#include "wire.h"

const char usage_schema[] =
        "Usage: fsxds schema info [--schema DESC] [--envoy-version X.Y] [--config FILE] [--json]\n"
        "       fsxds schema build [--envoy-version X.Y.Z] -o FILE.desc DIR...\n"
        "\n"
        "info describes the schema fsxds compiles against: the built-in one\n"
        "(Envoy's complete v3 API, from the package named) or DESC. It prints\n"
        "where it came from, the Envoy release it is (the default envoy_version\n"
        "of the load-time checks), the number of files, messages and enums, and\n"
        "the API version markers its files carry: the major versions of their\n"
        "packages, their (udpa.annotations.file_status) (active, frozen, work in\n"
        "progress) and the fields marked deprecated_at_minor_version.\n"
        "\n"
        "build makes a schema from an envoyproxy/data-plane-api checkout (or\n"
        "envoyproxy/envoy's api/) and the directories its imports live in (cncf/xds,\n"
        "googleapis, protoc-gen-validate), so a fleet can pin the exact API of the\n"
        "Envoy release it runs: every .proto under envoy/{config,extensions,\n"
        "service,type} of the DIRs whose imports all resolve, compiled by protoc\n"
        "($PROTOC, default protoc; the well-known types from\n"
        "$FSXDS_PROTOBUF_INCLUDE, default /usr/include) with their imports, and a\n"
        "record of the DIRs and the release (--envoy-version) appended. Files left\n"
        "out (imports not found) are listed.\n"
        "\n"
        "Options:\n"
        "      --schema DESC         describe DESC instead of the built-in schema (or the\n"
        "                            configuration's schema:)\n"
        "      --config FILE         the fsxds.yaml whose schema: and envoy_version: apply\n"
        "                            (default: " CONFIG_DEFAULT_PATH ", when it exists)\n"
        "      --json                print one JSON document\n"
        "      --envoy-version X.Y.Z the Envoy release the API is (recorded)\n"
        "  -o, --output FILE         where build writes the descriptor set\n"
        "  -h, --help                show this help\n"
        "\n"
        "Exit status: 0 success, 1 protoc refused the files or none was found,\n"
        "2 usage or I/O error.\n";

#define UDPA_FILE_STATUS 222707719u      /* FileOptions: udpa.annotations.file_status */
#define XDS_FILE_STATUS 226829418u       /* FileOptions: xds.annotations.v3.file_status */
#define DEPRECATED_AT_MINOR 157299826u   /* FieldOptions: envoy.annotations.deprecated_at_minor_version */
#define DEPRECATED_AT_MINOR_ENUM 181198657u /* EnumValueOptions: ...deprecated_at_minor_version_enum */

typedef struct SchemaCounts {
        size_t files, api_files, messages, enums;
        size_t by_major[5]; /* v1..v4 (index 1..4); 0: other packages */
        size_t active, frozen, next_major, work_in_progress;
        size_t deprecated_fields, deprecated_values;
        char newest_deprecation[16]; /* the highest "3.N" */
} SchemaCounts;

/* The payload of a length-delimited extension of an options message (an
 * unknown field to protobuf-c, whose data still holds the length), or an
 * empty reader. */
static WireReader option_ext(const ProtobufCMessage *options, uint32_t number) {
        for (size_t i = 0; options && i < options->n_unknown_fields; i++) {
                const ProtobufCMessageUnknownField *u = &options->unknown_fields[i];
                if (u->tag != number || u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
                        continue;
                WireReader r = { u->data, u->data + u->len };
                uint64_t len;
                if (wire_get_varint(&r, &len) && len <= (uint64_t) (r.end - r.p))
                        return (WireReader) { r.p, r.p + len };
        }
        return (WireReader) {};
}

static void count_status(SchemaCounts *c, WireReader r) {
        WireField f = {};
        while (wire_next(&r, &f)) {
                if (f.number == 1 && f.wire_type == WIRE_VARINT && f.value)
                        c->work_in_progress++;
                else if (f.number == 2 && f.wire_type == WIRE_VARINT)
                        switch (f.value) {
                        case 1: c->frozen++; break;
                        case 2: c->active++; break;
                        case 3: c->next_major++; break;
                        }
        }
}

static void note_deprecation(SchemaCounts *c, WireReader r, size_t *count) {
        if (!r.p)
                return;
        (*count)++;
        char v[16] = {};
        memcpy(v, r.p, MIN((size_t) (r.end - r.p), sizeof v - 1));
        if (strverscmp(v, c->newest_deprecation) > 0)
                memcpy(c->newest_deprecation, v, sizeof v);
}

static void count_message(SchemaCounts *c, const Google__Protobuf__DescriptorProto *m) {
        c->messages++;
        for (size_t i = 0; i < m->n_field; i++)
                note_deprecation(c, option_ext((const ProtobufCMessage *) m->field[i]->options, DEPRECATED_AT_MINOR),
                                 &c->deprecated_fields);
        for (size_t i = 0; i < m->n_enum_type; i++) {
                c->enums++;
                for (size_t j = 0; j < m->enum_type[i]->n_value; j++)
                        note_deprecation(c,
                                         option_ext((const ProtobufCMessage *) m->enum_type[i]->value[j]->options,
                                                    DEPRECATED_AT_MINOR_ENUM),
                                         &c->deprecated_values);
        }
        for (size_t i = 0; i < m->n_nested_type; i++)
                count_message(c, m->nested_type[i]);
}

static void count_schema(const Schema *s, SchemaCounts *c) {
        Google__Protobuf__FileDescriptorSet *set = schema_unpack_descriptor_set(s);
        if (!set)
                return;
        for (size_t i = 0; i < set->n_file; i++) {
                const Google__Protobuf__FileDescriptorProto *f = set->file[i];
                c->files++;
                const char *pkg = f->package ? f->package : "";
                const char *v = strrchr(pkg, '.');
                unsigned major = 0;
                if (startswith(pkg, "envoy.")) {
                        c->api_files++;
                        if (v && v[1] == 'v' && v[2] >= '1' && v[2] <= '4')
                                major = (unsigned) (v[2] - '0');
                }
                c->by_major[major]++;
                count_status(c, option_ext((const ProtobufCMessage *) f->options, UDPA_FILE_STATUS));
                /* xds.annotations.v3.FileStatusAnnotation: work_in_progress = 1 */
                count_status(c, option_ext((const ProtobufCMessage *) f->options, XDS_FILE_STATUS));
                for (size_t j = 0; j < f->n_message_type; j++)
                        count_message(c, f->message_type[j]);
                for (size_t j = 0; j < f->n_enum_type; j++)
                        c->enums++;
        }
        google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

static void put_string_or_null(Buf *b, const char *s) {
        if (s)
                buf_put_json_string(b, s);
        else
                buf_printf(b, "null");
}

static int schema_info(const Options *o) {
        _cleanup_(schema_freep) Schema *s = NULL;
        if (load_schema(o, &s) < 0)
                return EXIT_USAGE;
        SchemaCounts c = {};
        count_schema(s, &c);
        _cleanup_free_ char *source = schema_provenance(s, "source");
        _cleanup_free_ char *release = schema_provenance(s, "envoy_release");
        _cleanup_free_ char *commit = schema_provenance(s, "data_plane_api_commit");
        _cleanup_free_ char *target = envoy_version_format(schema_envoy_version(s));
        if (o->json) {
                Buf b = {};
                buf_printf(&b, "{\"origin\":");
                buf_put_json_string(&b, schema_origin(s));
                buf_printf(&b, ",\"source\":");
                put_string_or_null(&b, source);
                buf_printf(&b, ",\"envoy_release\":");
                put_string_or_null(&b, release);
                buf_printf(&b, ",\"envoy_version\":");
                put_string_or_null(&b, target);
                buf_printf(&b, ",\"data_plane_api_commit\":");
                put_string_or_null(&b, commit);
                buf_printf(&b,
                           ",\"fingerprint\":\"%s\",\"files\":%zu,\"api_files\":%zu,\"messages\":%zu,\"enums\":%zu,"
                           "\"api_versions\":{\"v2\":%zu,\"v3\":%zu,\"v4\":%zu},\"file_status\":{\"active\":%zu,"
                           "\"frozen\":%zu,\"next_major_version_candidate\":%zu,\"work_in_progress\":%zu},"
                           "\"deprecated\":{\"fields\":%zu,\"enum_values\":%zu,\"newest_minor_version\":",
                           schema_fingerprint(s), c.files, c.api_files, c.messages, c.enums, c.by_major[2], c.by_major[3],
                           c.by_major[4], c.active, c.frozen, c.next_major, c.work_in_progress, c.deprecated_fields,
                           c.deprecated_values);
                put_string_or_null(&b, *c.newest_deprecation ? c.newest_deprecation : NULL);
                buf_printf(&b, "}}\n");
                fwrite(b.data, 1, b.len, stdout);
                buf_free(&b);
                return EXIT_OK;
        }
        printf("schema:            %s\n", schema_origin(s));
        printf("source:            %s\n", source ? source : "(not recorded: not made by fsxds schema build)");
        printf("envoy release:     %s\n", release ? release : "(not recorded)");
        if (envoy_version_origin)
                printf("envoy_version:     %s (%s)\n", target, envoy_version_origin);
        else
                printf("envoy_version:     %s%s\n", target,
                       release ? " (the schema's release)" : " (the built-in schema's release: the schema records none)");
        if (commit)
                printf("data-plane-api:    %s\n", commit);
        printf("fingerprint:       sha256:%s\n", schema_fingerprint(s));
        printf("files:             %zu (%zu of Envoy's API, the rest imports)\n", c.files, c.api_files);
        printf("messages:          %zu\n", c.messages);
        printf("enums:             %zu\n", c.enums);
        printf("API versions:      v3: %zu files, v2: %zu, v4: %zu\n", c.by_major[3], c.by_major[2], c.by_major[4]);
        printf("file status:       %zu active, %zu frozen, %zu next-major candidates, %zu work in progress\n", c.active,
               c.frozen, c.next_major, c.work_in_progress);
        printf("deprecated:        %zu fields, %zu enum values (newest: API %s)\n", c.deprecated_fields,
               c.deprecated_values, *c.newest_deprecation ? c.newest_deprecation : "-");
        return EXIT_OK;
}

static int schema_build_verb(int argc, char **argv, const Options *o) {
        if (!o->output || argc < 1) {
                fprintf(stderr, "fsxds schema build: expected -o FILE.desc and at least one DIR\n");
                return EXIT_USAGE;
        }
        Buf source = {};
        buf_printf(&source, "fsxds schema build");
        for (int i = 0; i < argc; i++) {
                _cleanup_free_ char *abs = realpath(argv[i], NULL);
                if (!abs) {
                        fprintf(stderr, "fsxds schema build: %s: %m\n", argv[i]);
                        buf_free(&source);
                        return EXIT_USAGE;
                }
                buf_printf(&source, " %s", abs);
        }
        _cleanup_free_ char *source_text = buf_steal_str(&source);
        const char *wkt = getenv("FSXDS_PROTOBUF_INCLUDE");
        const char *protoc = getenv("PROTOC");
        SchemaBuildOptions so = {
                .include_dirs = argv,
                .wkt_dir = wkt && *wkt ? wkt : "/usr/include",
                .protoc = protoc && *protoc ? protoc : "protoc",
                .output = o->output,
                .source = source_text,
                .envoy_release = o->envoy_version,
        };
        _cleanup_free_ char *error = NULL;
        SchemaBuildResult res = {};
        int r = schema_build(&so, &error, &res);
        if (r < 0) {
                fprintf(stderr, "fsxds schema build: %s\n", error);
                return r == -EBADMSG ? EXIT_BAD_INPUT : EXIT_USAGE;
        }
        printf("%s: %zu API files\n", o->output, res.n_compiled);
        for (size_t i = 0; i < res.n_excluded; i++)
                printf("left out: %s\n", res.excluded[i]);
        schema_build_result_done(&res);
        return EXIT_OK;
}

int verb_schema(int argc, char **argv, const Options *o) {
        if (streq(argv[0], "info")) {
                if (argc != 1 || (o->given & OPTION_OUTPUT)) {
                        fprintf(stderr, "fsxds schema info: takes no argument and no -o\n%s", usage_schema);
                        return EXIT_USAGE;
                }
                return schema_info(o);
        }
        if (streq(argv[0], "build")) {
                if (o->given & (OPTION_SCHEMA | OPTION_JSON)) {
                        fprintf(stderr, "fsxds schema build: --schema and --json are for info\n%s", usage_schema);
                        return EXIT_USAGE;
                }
                return schema_build_verb(argc - 1, argv + 1, o);
        }
        fprintf(stderr, "fsxds schema: unknown subcommand '%s' (info, build)\n%s", argv[0], usage_schema);
        return EXIT_USAGE;
}
