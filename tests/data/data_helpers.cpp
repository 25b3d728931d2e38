#include "data/data_helpers.h"

#include <png.h>
#include <turbojpeg.h>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "spec/compose.h"

namespace dltrain::test {

cv::Mat picture(int h, int w, int seed) {
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      img.at<cv::Vec3b>(y, x) =
          cv::Vec3b(static_cast<uchar>((x * 255) / std::max(1, w - 1)),
                    static_cast<uchar>((y * 255) / std::max(1, h - 1)), static_cast<uchar>((seed * 37 + x + y) % 256));
  cv::circle(img, cv::Point(w / 2 + seed % 5, h / 2), std::min(h, w) / 4, cv::Scalar(20, 200, 90), -1);
  return img;
}

std::vector<uint8_t> encode(const std::string& ext, const cv::Mat& picture, int jpeg_quality) {
  const int channels = picture.channels();
  if (ext == ".jpg") {
    if (picture.depth() != CV_8U || channels == 2)
      throw std::invalid_argument("encode: JPEG takes 8-bit gray, BGR or BGRA");
    tjhandle handle = tjInitCompress();
    unsigned char* jpeg = nullptr;
    unsigned long size = 0;
    const int format = channels == 1 ? TJPF_GRAY : channels == 3 ? TJPF_BGR : TJPF_BGRA;
    const int rc = tjCompress2(handle, picture.data, picture.cols, static_cast<int>(picture.step[0]), picture.rows,
                               format, &jpeg, &size, channels == 1 ? TJSAMP_GRAY : TJSAMP_420, jpeg_quality, 0);
    std::vector<uint8_t> bytes(jpeg, jpeg + (rc == 0 ? size : 0));
    tjFree(jpeg);
    tjDestroy(handle);
    if (rc != 0) throw std::runtime_error("encode: TurboJPEG failed");
    return bytes;
  }
  if (ext != ".png") throw std::invalid_argument("encode: .jpg or .png, not " + ext);
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(picture.cols);
  image.height = static_cast<png_uint_32>(picture.rows);
  image.format = channels == 1   ? PNG_FORMAT_GRAY
                 : channels == 2 ? PNG_FORMAT_GA
                 : channels == 3 ? PNG_FORMAT_BGR
                                 : PNG_FORMAT_BGRA;
  if (picture.depth() == CV_16U) image.format |= PNG_FORMAT_FLAG_LINEAR;  // 16-bit samples, written as they are
  const auto stride = static_cast<png_int_32>(picture.step[0] / picture.elemSize1());
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, picture.data, stride, nullptr))
    throw std::runtime_error(std::string("encode: ") + image.message);
  std::vector<uint8_t> bytes(size);
  if (!png_image_write_to_memory(&image, bytes.data(), &size, 0, picture.data, stride, nullptr))
    throw std::runtime_error(std::string("encode: ") + image.message);
  bytes.resize(size);
  return bytes;
}

void write_image_folder(const std::string& root, int classes, int per_class, int h, int w, const std::string& ext) {
  for (int c = 0; c < classes; ++c) {
    std::string dir = root + "/class_" + std::to_string(c);
    std::filesystem::create_directories(dir);
    for (int i = 0; i < per_class; ++i) {
      const std::vector<uint8_t> bytes = encode(ext, picture(h, w, c * 100 + i));
      std::ofstream(dir + "/" + std::to_string(i) + ext, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
  }
}

data::SplitSpec folder_split(const std::string& root, int channels, int h, int w, int classes,
                             const std::string& extra) {
  std::string text = "inputs: {image: {type: image, channels: " + std::to_string(channels) + ", size: [" +
                     std::to_string(h) + ", " + std::to_string(w) + "]}}\n" +
                     "model: [global_avg_pool, {linear: {name: head, out_features: " + std::to_string(classes) +
                     "}}]\n" + "outputs: {label: {from: head, loss: sparse_categorical_crossentropy}}\n" +
                     "data: {train: {source: {folder: \"" + root + "\"}}}\n";
  spec::Value doc = yaml(text);
  spec::Value overlay = yaml(extra);
  spec::merge_into(*doc.find("data")->find("train"), overlay);
  spec::RunSpec run = spec::parse_run_spec(doc);
  data::DataSpec ds = data::parse_data_spec(run.data, run.model, {{"label", {classes, true}}});
  return ds.splits.at("train");
}

}  // namespace dltrain::test
