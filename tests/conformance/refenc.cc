// SPDX-License-Identifier: MIT
//
// refenc: the independent reference encoder of the fsxds conformance tests.
//
// It does what Envoy does with a YAML xDS file, with the same libraries
// (yaml-cpp and libprotobuf's JSON parser), but over a descriptor set given
// at run time, so that fsxds's own encoder can be checked against it.
//
//   refenc encode  DESC TYPE IN.yaml OUT.pb
//   refenc decode  DESC TYPE IN.pb            (text format, Any expanded)
//   refenc canon   DESC TYPE IN.pb OUT.pb    (deterministic, Any payloads too)
//   refenc bench   DESC TYPE IN.yaml [ITERATIONS]
//   refenc lint    DESC TYPE IN.pb    (deprecated/unknown fields in use)
//
// YAML -> JSON follows Envoy's source/common/protobuf/yaml_utility.cc:
// every node becomes a google.protobuf.Value (scalars: "!"-tagged, i.e.
// quoted, -> string; else yaml-cpp bool; else int64, as a number when it fits
// int32 and as a decimal string otherwise; else double, NaN/Inf as the
// strings "NaN"/"Infinity"/"-Infinity"; else string; null -> null; mapping
// keys tagged !ignore are dropped), the Value is printed as JSON with proto
// field names, and that JSON is parsed into the message with
// JsonStringToMessage(case_insensitive_enum_parsing = true,
// ignore_unknown_fields = false).

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace pb = google::protobuf;

namespace {

const char kTypeUrlPrefix[] = "type.googleapis.com";

[[noreturn]] void die(int code, const std::string &msg) {
  std::cerr << "refenc: " << msg << "\n";
  std::exit(code);
}

bool readFile(const std::string &path, std::string *out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return !in.bad();
}

bool writeFile(const std::string &path, const std::string &data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return false;
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  return !out.fail();
}

// ---------------------------------------------------------------------------
// Descriptor sets

class PoolErrors : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string &filename, const std::string &element_name,
                const pb::Message *, ErrorLocation,
                const std::string &message) override {
    std::cerr << "refenc: " << filename << ": " << element_name << ": "
              << message << "\n";
    failed = true;
  }
  bool failed = false;
};

struct Schema {
  pb::FileDescriptorSet set;
  std::unique_ptr<pb::DescriptorPool> pool;
  std::vector<const pb::FileDescriptor *> files;
};

std::unique_ptr<Schema> loadSchema(const std::string &path) {
  auto s = std::make_unique<Schema>();
  std::string data;
  if (!readFile(path, &data)) die(2, "cannot read " + path);
  if (!s->set.ParseFromString(data))
    die(2, path + " is not a FileDescriptorSet");
  s->pool = std::make_unique<pb::DescriptorPool>();
  s->pool->AllowUnknownDependencies();  // tolerate a set built without
                                        // --include_imports; types stay
                                        // unresolved placeholders then
  PoolErrors errors;
  // Files are normally in dependency order; retry the rest until no progress
  // is made, in case they are not.
  std::vector<const pb::FileDescriptorProto *> pending;
  for (const auto &f : s->set.file()) pending.push_back(&f);
  std::set<std::string> in_set;
  for (const auto &f : s->set.file()) in_set.insert(f.name());
  while (!pending.empty()) {
    std::vector<const pb::FileDescriptorProto *> later;
    for (const auto *f : pending) {
      bool deps_ready = true;
      for (const auto &d : f->dependency())
        if (in_set.count(d) && !s->pool->FindFileByName(d)) deps_ready = false;
      if (!deps_ready) {
        later.push_back(f);
        continue;
      }
      const pb::FileDescriptor *fd = s->pool->BuildFileCollectingErrors(*f, &errors);
      if (!fd) die(2, path + ": cannot build " + f->name());
      s->files.push_back(fd);
    }
    if (later.size() == pending.size())
      die(2, path + ": circular or unsatisfiable dependencies");
    pending.swap(later);
  }
  return s;
}

// ---------------------------------------------------------------------------
// YAML -> google.protobuf.Value, as Envoy's parseYamlNode does.

pb::Value parseYamlNode(const YAML::Node &node) {
  pb::Value value;
  switch (node.Type()) {
    case YAML::NodeType::Null:
      value.set_null_value(pb::NULL_VALUE);
      break;
    case YAML::NodeType::Scalar: {
      if (node.Tag() == "!") {
        value.set_string_value(node.as<std::string>());
        break;
      }
      bool bool_value;
      if (YAML::convert<bool>::decode(node, bool_value)) {
        value.set_bool_value(bool_value);
        break;
      }
      int64_t int_value;
      if (YAML::convert<int64_t>::decode(node, int_value)) {
        if (int_value >= std::numeric_limits<int32_t>::min() &&
            int_value <= std::numeric_limits<int32_t>::max())
          value.set_number_value(static_cast<double>(int_value));
        else
          value.set_string_value(std::to_string(int_value));
        break;
      }
      double double_value;
      if (YAML::convert<double>::decode(node, double_value)) {
        if (std::isfinite(double_value))
          value.set_number_value(double_value);
        else if (std::isnan(double_value))
          value.set_string_value("NaN");
        else
          value.set_string_value(double_value > 0 ? "Infinity" : "-Infinity");
        break;
      }
      value.set_string_value(node.as<std::string>());
      break;
    }
    case YAML::NodeType::Sequence: {
      auto *list = value.mutable_list_value()->mutable_values();
      for (const auto &it : node) *list->Add() = parseYamlNode(it);
      break;
    }
    case YAML::NodeType::Map: {
      auto *fields = value.mutable_struct_value()->mutable_fields();
      for (const auto &it : node)
        if (it.first.Tag() != "!ignore")
          (*fields)[it.first.as<std::string>()] = parseYamlNode(it.second);
      break;
    }
    case YAML::NodeType::Undefined:
      throw std::runtime_error("Undefined YAML value");
  }
  return value;
}

// Value -> JSON with proto field names. Envoy uses MessageToJsonString; we
// serialise deterministically first (map keys sorted) so that refenc's output
// does not depend on hash order. The JSON means the same either way.
bool valueToJson(const pb::Value &value, std::string *json, std::string *err) {
  std::string binary;
  {
    pb::io::StringOutputStream sos(&binary);
    pb::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    if (!value.SerializeToCodedStream(&cos)) {
      *err = "cannot serialise the YAML value";
      return false;
    }
  }
  std::unique_ptr<pb::util::TypeResolver> resolver(
      pb::util::NewTypeResolverForDescriptorPool(
          kTypeUrlPrefix, pb::DescriptorPool::generated_pool()));
  pb::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  auto st = pb::util::BinaryToJsonString(
      resolver.get(), std::string(kTypeUrlPrefix) + "/google.protobuf.Value",
      binary, json, opts);
  if (!st.ok()) {
    *err = "Unable to convert YAML to JSON: " + st.ToString();
    return false;
  }
  return true;
}

// The whole conversion. Returns false with *err set on failure.
bool yamlToMessage(const std::string &yaml_text, pb::Message *msg,
                   std::string *err) {
  pb::Value value;
  try {
    value = parseYamlNode(YAML::Load(yaml_text));
  } catch (const YAML::Exception &e) {
    *err = std::string("YAML: ") + e.what();
    return false;
  } catch (const std::exception &e) {
    *err = std::string("Unexpected YAML exception: ") + e.what();
    return false;
  }
  if (value.kind_case() != pb::Value::kStructValue &&
      value.kind_case() != pb::Value::kListValue) {
    *err = "Unable to convert YAML as JSON (the document is not a mapping)";
    return false;
  }
  std::string json;
  if (!valueToJson(value, &json, err)) return false;
  pb::util::JsonParseOptions opts;
  opts.case_insensitive_enum_parsing = true;
  opts.ignore_unknown_fields = false;
  msg->Clear();
  auto st = pb::util::JsonStringToMessage(json, msg, opts);
  if (!st.ok()) {
    *err = "Unable to parse JSON as proto (" + st.ToString() + "): " + json;
    return false;
  }
  return true;
}

const pb::Descriptor *findType(const Schema &s, const std::string &name) {
  const pb::Descriptor *d = s.pool->FindMessageTypeByName(name);
  if (!d) die(2, "message type " + name + " is not in the descriptor set");
  return d;
}

// ---------------------------------------------------------------------------
// modes

int cmdEncode(int argc, char **argv) {
  if (argc != 4) die(2, "usage: refenc encode DESC TYPE IN.yaml OUT.pb");
  auto schema = loadSchema(argv[0]);
  const pb::Descriptor *type = findType(*schema, argv[1]);
  std::string yaml;
  if (!readFile(argv[2], &yaml)) die(2, std::string("cannot read ") + argv[2]);
  pb::DynamicMessageFactory factory(schema->pool.get());
  std::unique_ptr<pb::Message> msg(factory.GetPrototype(type)->New());
  std::string err;
  if (!yamlToMessage(yaml, msg.get(), &err))
    die(1, std::string(argv[2]) + ": " + err);
  std::string out;
  {
    pb::io::StringOutputStream sos(&out);
    pb::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    if (!msg->SerializeToCodedStream(&cos)) die(1, "cannot serialise");
  }
  if (!writeFile(argv[3], out)) die(2, std::string("cannot write ") + argv[3]);
  return 0;
}

int cmdDecode(int argc, char **argv) {
  if (argc != 3) die(2, "usage: refenc decode DESC TYPE IN.pb");
  auto schema = loadSchema(argv[0]);
  const pb::Descriptor *type = findType(*schema, argv[1]);
  std::string data;
  if (!readFile(argv[2], &data)) die(2, std::string("cannot read ") + argv[2]);
  pb::DynamicMessageFactory factory(schema->pool.get());
  std::unique_ptr<pb::Message> msg(factory.GetPrototype(type)->New());
  if (!msg->ParseFromString(data))
    die(1, std::string(argv[2]) + ": not a valid " + argv[1]);
  pb::TextFormat::Printer printer;
  printer.SetExpandAny(true);
  std::string text;
  if (!printer.PrintToString(*msg, &text)) die(1, "cannot print");
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

// --- lint: deprecated fields / enum values and unknown fields in use -------

struct Lint {
  const pb::DescriptorPool *pool;
  pb::DynamicMessageFactory *factory;
  int problems = 0;

  void report(const std::string &path, const std::string &what) {
    std::printf("%s: %s\n", path.c_str(), what.c_str());
    problems++;
  }

  void enumValue(const std::string &path, const pb::EnumValueDescriptor *v) {
    if (v->options().deprecated())
      report(path, "deprecated enum value " + v->full_name());
  }

  void walk(const pb::Message &m, const std::string &path) {
    const pb::Reflection *r = m.GetReflection();
    if (r->GetUnknownFields(m).field_count() > 0)
      report(path, "unknown field(s) in " + m.GetDescriptor()->full_name());
    if (m.GetDescriptor()->full_name() == "google.protobuf.Any") {
      const pb::FieldDescriptor *url = m.GetDescriptor()->FindFieldByNumber(1);
      const pb::FieldDescriptor *val = m.GetDescriptor()->FindFieldByNumber(2);
      std::string type_url = r->GetString(m, url);
      std::string name = type_url.substr(type_url.rfind('/') + 1);
      const pb::Descriptor *d = pool->FindMessageTypeByName(name);
      if (!d) {
        report(path, "Any of unknown type " + type_url);
        return;
      }
      std::unique_ptr<pb::Message> inner(factory->GetPrototype(d)->New());
      if (!inner->ParseFromString(r->GetString(m, val))) {
        report(path, "Any payload does not parse as " + name);
        return;
      }
      walk(*inner, path + "[" + name + "]");
      return;
    }
    std::vector<const pb::FieldDescriptor *> fields;
    r->ListFields(m, &fields);
    for (const pb::FieldDescriptor *f : fields) {
      std::string p = path + "." + f->name();
      if (f->options().deprecated())
        report(p, "deprecated field " + f->full_name());
      if (f->is_repeated()) {
        int n = r->FieldSize(m, f);
        for (int i = 0; i < n; i++) {
          std::string pi = p + "[" + std::to_string(i) + "]";
          if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE)
            walk(r->GetRepeatedMessage(m, f, i), pi);
          else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM)
            enumValue(pi, r->GetRepeatedEnum(m, f, i));
        }
      } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        walk(r->GetMessage(m, f), p);
      } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM) {
        enumValue(p, r->GetEnum(m, f));
      }
    }
  }
};

int cmdLint(int argc, char **argv) {
  if (argc != 3) die(2, "usage: refenc lint DESC TYPE IN.pb");
  auto schema = loadSchema(argv[0]);
  const pb::Descriptor *type = findType(*schema, argv[1]);
  std::string data;
  if (!readFile(argv[2], &data)) die(2, std::string("cannot read ") + argv[2]);
  pb::DynamicMessageFactory factory(schema->pool.get());
  std::unique_ptr<pb::Message> msg(factory.GetPrototype(type)->New());
  if (!msg->ParseFromString(data))
    die(1, std::string(argv[2]) + ": not a valid " + argv[1]);
  Lint lint{schema->pool.get(), &factory};
  lint.walk(*msg, type->name());
  return lint.problems ? 1 : 0;
}

int cmdBench(int argc, char **argv) {
  if (argc != 3 && argc != 4)
    die(2, "usage: refenc bench DESC TYPE IN.yaml [ITERATIONS]");
  auto schema = loadSchema(argv[0]);
  const pb::Descriptor *type = findType(*schema, argv[1]);
  long iterations = argc == 4 ? std::strtol(argv[3], nullptr, 10) : 1;
  if (iterations < 1) die(2, "ITERATIONS must be >= 1");
  std::string yaml;
  if (!readFile(argv[2], &yaml)) die(2, std::string("cannot read ") + argv[2]);
  pb::DynamicMessageFactory factory(schema->pool.get());
  std::unique_ptr<pb::Message> msg(factory.GetPrototype(type)->New());
  std::string out, err;
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; i++) {
    if (!yamlToMessage(yaml, msg.get(), &err))
      die(1, std::string(argv[2]) + ": " + err);
    out.clear();
    if (!msg->SerializeToString(&out)) die(1, "cannot serialise");
  }
  auto t1 = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(t1 - t0).count();
  std::printf("seconds=%.6f per_iteration=%.6f iterations=%ld input_bytes=%zu "
              "output_bytes=%zu\n",
              secs, secs / static_cast<double>(iterations), iterations,
              yaml.size(), out.size());
  return 0;
}

// --- canon: libprotobuf's deterministic bytes, Any payloads included -------
//
// SetSerializationDeterministic orders the fields by number and map entries
// by key, but an Any's payload is a bytes field, written as the JSON parser
// produced it (fields in the order of the input, proto3 zeros such as a
// Duration's `nanos: 0` written out). canon parses every Any payload as its
// type, canonicalises it in turn, and writes it back deterministically, so
// that the whole message is in the one canonical form.

bool serializeDeterministic(const pb::Message &m, std::string *out) {
  out->clear();
  pb::io::StringOutputStream sos(out);
  pb::io::CodedOutputStream cos(&sos);
  cos.SetSerializationDeterministic(true);
  return m.SerializeToCodedStream(&cos);
}

struct Canon {
  const pb::DescriptorPool *pool;
  pb::DynamicMessageFactory *factory;
  std::string error;

  bool walk(pb::Message *m, const std::string &path) {
    const pb::Reflection *r = m->GetReflection();
    if (m->GetDescriptor()->full_name() == "google.protobuf.Any") {
      const pb::FieldDescriptor *url = m->GetDescriptor()->FindFieldByNumber(1);
      const pb::FieldDescriptor *val = m->GetDescriptor()->FindFieldByNumber(2);
      std::string type_url = r->GetString(*m, url);
      std::string name = type_url.substr(type_url.rfind('/') + 1);
      const pb::Descriptor *d = pool->FindMessageTypeByName(name);
      if (!d) {
        error = path + ": Any of unknown type " + type_url;
        return false;
      }
      std::unique_ptr<pb::Message> inner(factory->GetPrototype(d)->New());
      if (!inner->ParseFromString(r->GetString(*m, val))) {
        error = path + ": Any payload does not parse as " + name;
        return false;
      }
      if (!walk(inner.get(), path + "[" + name + "]")) return false;
      std::string bytes;
      if (!serializeDeterministic(*inner, &bytes)) {
        error = path + ": cannot serialise the payload";
        return false;
      }
      r->SetString(m, val, bytes);
      return true;
    }
    std::vector<const pb::FieldDescriptor *> fields;
    r->ListFields(*m, &fields);
    for (const pb::FieldDescriptor *f : fields) {
      if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
      std::string p = path + "." + f->name();
      if (f->is_repeated()) {
        int n = r->FieldSize(*m, f);
        for (int i = 0; i < n; i++)
          if (!walk(r->MutableRepeatedMessage(m, f, i),
                    p + "[" + std::to_string(i) + "]"))
            return false;
      } else if (!walk(r->MutableMessage(m, f), p)) {
        return false;
      }
    }
    return true;
  }
};

int cmdCanon(int argc, char **argv) {
  if (argc != 4) die(2, "usage: refenc canon DESC TYPE IN.pb OUT.pb");
  auto schema = loadSchema(argv[0]);
  const pb::Descriptor *type = findType(*schema, argv[1]);
  std::string data;
  if (!readFile(argv[2], &data)) die(2, std::string("cannot read ") + argv[2]);
  pb::DynamicMessageFactory factory(schema->pool.get());
  std::unique_ptr<pb::Message> msg(factory.GetPrototype(type)->New());
  if (!msg->ParseFromString(data))
    die(1, std::string(argv[2]) + ": not a valid " + argv[1]);
  Canon canon{schema->pool.get(), &factory};
  if (!canon.walk(msg.get(), type->name())) die(1, canon.error);
  std::string out;
  if (!serializeDeterministic(*msg, &out)) die(1, "cannot serialise");
  if (!writeFile(argv[3], out)) die(2, std::string("cannot write ") + argv[3]);
  return 0;
}

void usage() {
  std::fputs(
      "usage:\n"
      "  refenc encode DESC TYPE IN.yaml OUT.pb\n"
      "  refenc decode DESC TYPE IN.pb\n"
      "  refenc canon DESC TYPE IN.pb OUT.pb\n"
      "  refenc bench DESC TYPE IN.yaml [ITERATIONS]\n"
      "  refenc lint DESC TYPE IN.pb   (deprecated or unknown fields in use)\n",
      stderr);
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  std::string mode = argv[1];
  int rc;
  try {
    if (mode == "encode")
      rc = cmdEncode(argc - 2, argv + 2);
    else if (mode == "decode")
      rc = cmdDecode(argc - 2, argv + 2);
    else if (mode == "canon")
      rc = cmdCanon(argc - 2, argv + 2);
    else if (mode == "lint")
      rc = cmdLint(argc - 2, argv + 2);
    else if (mode == "bench")
      rc = cmdBench(argc - 2, argv + 2);
    else {
      usage();
      return 2;
    }
  } catch (const std::exception &e) {
    die(1, std::string("unexpected exception: ") + e.what());
  }
  return rc;
}
