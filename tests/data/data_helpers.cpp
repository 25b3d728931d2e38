#include "data/data_helpers.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>

#include "spec/compose.h"

namespace dltrain::test {

cv::Mat picture(int h, int w, int seed) {
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>((x * 255) / std::max(1, w - 1)),
                                          static_cast<uchar>((y * 255) / std::max(1, h - 1)),
                                          static_cast<uchar>((seed * 37 + x + y) % 256));
  cv::circle(img, cv::Point(w / 2 + seed % 5, h / 2), std::min(h, w) / 4, cv::Scalar(20, 200, 90), -1);
  return img;
}

void write_image_folder(const std::string& root, int classes, int per_class, int h, int w, const std::string& ext) {
  for (int c = 0; c < classes; ++c) {
    std::string dir = root + "/class_" + std::to_string(c);
    std::filesystem::create_directories(dir);
    for (int i = 0; i < per_class; ++i)
      cv::imwrite(dir + "/" + std::to_string(i) + ext, picture(h, w, c * 100 + i));
  }
}

data::SplitSpec folder_split(const std::string& root, int channels, int h, int w, int classes, const std::string& extra) {
  std::string text = "inputs: {image: {type: image, channels: " + std::to_string(channels) + ", size: [" +
                     std::to_string(h) + ", " + std::to_string(w) + "]}}\n" +
                     "model: [global_avg_pool, {linear: {name: head, out_features: " + std::to_string(classes) + "}}]\n" +
                     "outputs: {label: {from: head, loss: sparse_categorical_crossentropy}}\n" +
                     "data: {train: {source: {folder: \"" + root + "\"}}}\n";
  spec::Value doc = yaml(text);
  spec::Value overlay = yaml(extra);
  spec::merge_into(*doc.find("data")->find("train"), overlay);
  spec::RunSpec run = spec::parse_run_spec(doc);
  data::DataSpec ds = data::parse_data_spec(run.data, run.model, {{"label", classes}});
  return ds.splits.at("train");
}

}  // namespace dltrain::test
