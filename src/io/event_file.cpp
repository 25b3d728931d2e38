#include "io/event_file.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "io/crc32c.h"
#include "io/tensorboard.pb.h"
#include "util/error.h"

namespace dltrain::io {
namespace {

namespace tb = dltrain::tensorboard;

double now_s() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

tb::Event event_at(int64_t step) {
  tb::Event event;
  event.set_wall_time(now_s());
  event.set_step(step);
  return event;
}

// A summary value of the hparams plugin: its data in the metadata, an empty float tensor.
void add_hparams_value(tb::Summary& summary, const std::string& tag, const tb::HParamsPluginData& data) {
  tb::Summary::Value* value = summary.add_value();
  value->set_tag(tag);
  value->mutable_metadata()->mutable_plugin_data()->set_plugin_name("hparams");
  value->mutable_metadata()->mutable_plugin_data()->set_content(data.SerializeAsString());
  tb::TensorProto* tensor = value->mutable_tensor();
  tensor->set_dtype(tb::DT_FLOAT);
  tensor->mutable_tensor_shape()->add_dim()->set_size(0);
}

}  // namespace

EventWriter::EventWriter(const std::string& dir) {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  path_ = (std::filesystem::path(dir) / ("events.out.tfevents." + std::to_string(static_cast<int64_t>(now_s())) + "." +
                                         host + "." + std::to_string(getpid())))
              .string();
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw Error::runtime("cannot create the TensorBoard event file " + path_);
  tb::Event event = event_at(0);
  event.set_file_version("brain.Event:2");
  write(event.SerializeAsString());
}

void EventWriter::write(const std::string& record) {
  char header[12];
  const uint64_t length = record.size();
  for (int i = 0; i < 8; ++i) header[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  const uint32_t length_crc = masked_crc32c(header, 8), data_crc = masked_crc32c(record.data(), record.size());
  for (int i = 0; i < 4; ++i) header[8 + i] = static_cast<char>((length_crc >> (8 * i)) & 0xFF);
  char footer[4];
  for (int i = 0; i < 4; ++i) footer[i] = static_cast<char>((data_crc >> (8 * i)) & 0xFF);
  out_.write(header, sizeof header);
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
  out_.write(footer, sizeof footer);
  out_.flush();
  if (!out_) throw Error::runtime("cannot write the TensorBoard event file " + path_ + " (disk full?)");
}

void EventWriter::scalar(const std::string& tag, int64_t step, double value) {
  tb::Event event = event_at(step);
  tb::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  write(event.SerializeAsString());
}

void EventWriter::text(const std::string& tag, int64_t step, const std::string& markdown) {
  tb::Event event = event_at(step);
  tb::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name("text");
  tb::TensorProto* tensor = v->mutable_tensor();
  tensor->set_dtype(tb::DT_STRING);
  tensor->mutable_tensor_shape();  // a scalar
  tensor->add_string_val(markdown);
  write(event.SerializeAsString());
}

void EventWriter::hparams(const std::map<std::string, HParam>& values, const std::vector<std::string>& metric_tags) {
  tb::HParamsPluginData experiment;
  tb::Experiment* e = experiment.mutable_experiment();
  e->set_time_created_secs(now_s());
  tb::HParamsPluginData start;
  tb::SessionStartInfo* s = start.mutable_session_start_info();
  s->set_start_time_secs(now_s());
  for (const auto& [name, value] : values) {
    tb::HParamInfo* info = e->add_hparam_infos();
    info->set_name(name);
    google::protobuf::Value& v = (*s->mutable_hparams())[name];
    if (const auto* text = std::get_if<std::string>(&value)) {
      info->set_type(tb::DATA_TYPE_STRING);
      v.set_string_value(*text);
    } else if (const auto* number = std::get_if<double>(&value)) {
      info->set_type(tb::DATA_TYPE_FLOAT64);
      v.set_number_value(*number);
    } else {
      info->set_type(tb::DATA_TYPE_BOOL);
      v.set_bool_value(std::get<bool>(value));
    }
  }
  for (const auto& tag : metric_tags) e->add_metric_infos()->mutable_name()->set_tag(tag);
  tb::Event event = event_at(0);
  add_hparams_value(*event.mutable_summary(), "_hparams_/experiment", experiment);
  add_hparams_value(*event.mutable_summary(), "_hparams_/session_start_info", start);
  write(event.SerializeAsString());
}

void EventWriter::restart_at(int64_t step) {
  tb::Event event = event_at(step);
  event.mutable_session_log()->set_status(tb::SessionLog::START);
  write(event.SerializeAsString());
}

}  // namespace dltrain::io
