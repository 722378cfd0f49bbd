// Model-card plots: valid PNG bytes of the expected size, different inputs -> different images.
// Set CTML_PLOT_DUMP_DIR to keep the rendered PNGs for a look.
#include "ctml/ml/plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "ctml/ml/metrics.h"

namespace ctml::ml {
namespace {

const std::string kPngSignature("\x89PNG\r\n\x1a\n", 8);

uint32_t BigEndian32(const std::string& s, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(s[at])) << 24 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 1])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 2])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 3]));
}

// Signature, then the IHDR chunk: length (4), "IHDR", width (4), height (4).
void ExpectPng(const std::string& png, uint32_t width, uint32_t height) {
  ASSERT_GT(png.size(), 33u);
  EXPECT_EQ(png.substr(0, 8), kPngSignature);
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(BigEndian32(png, 16), width);
  EXPECT_EQ(BigEndian32(png, 20), height);
  EXPECT_EQ(png.substr(png.size() - 8, 4), "IEND");
}

void MaybeDump(const std::string& name, const std::string& png) {
  const char* dir = std::getenv("CTML_PLOT_DUMP_DIR");
  if (dir == nullptr || *dir == '\0') return;
  std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << png;
}

struct Sample {
  std::vector<float> y, p, p_weak;
};

// Positives score higher on average; p_weak is a noisier version (the "baseline").
Sample MakeSample(uint32_t seed, double prevalence, double shift) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution coin(prevalence);
  std::normal_distribution<double> noise(0, 1);
  Sample s;
  for (int i = 0; i < 400; ++i) {
    const bool pos = coin(rng);
    const double z = noise(rng) + (pos ? shift : 0) - 2.5;
    s.y.push_back(pos ? 1.0f : 0.0f);
    s.p.push_back(static_cast<float>(1 / (1 + std::exp(-z))));
    s.p_weak.push_back(static_cast<float>(1 / (1 + std::exp(-(z * 0.5 + noise(rng) - 1)))));
  }
  return s;
}

TEST(Plot, RocPngHasSignatureSizeAndDependsOnInput) {
  Sample a = MakeSample(1, 0.3, 2.0), b = MakeSample(2, 0.3, 0.7);
  auto roc_a = RocCurve(a.y, a.p), base_a = RocCurve(a.y, a.p_weak);
  auto png_a = RenderRocPng(roc_a, RocAuc(a.y, a.p), BootstrapCi(RocAuc, a.y, a.p), &base_a,
                            RocAuc(a.y, a.p_weak), "vitals_risk v1: ROC on the test split");
  ASSERT_TRUE(png_a.ok()) << png_a.status().ToString();
  ExpectPng(*png_a, kPlotWidth, kPlotHeight);
  MaybeDump("roc.png", *png_a);

  auto roc_b = RocCurve(b.y, b.p);
  auto png_b = RenderRocPng(roc_b, RocAuc(b.y, b.p), BootstrapCi(RocAuc, b.y, b.p), nullptr,
                            std::nan(""), "vitals_risk v2: ROC on the test split");
  ASSERT_TRUE(png_b.ok()) << png_b.status().ToString();
  ExpectPng(*png_b, kPlotWidth, kPlotHeight);
  EXPECT_NE(*png_a, *png_b);

  // Same input, same bytes (cards are reproducible).
  auto again = RenderRocPng(roc_a, RocAuc(a.y, a.p), BootstrapCi(RocAuc, a.y, a.p), &base_a,
                            RocAuc(a.y, a.p_weak), "vitals_risk v1: ROC on the test split");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *png_a);

  // One class in test: still an image (axes and a note), no error.
  auto empty = RenderRocPng({}, std::nan(""), {std::nan(""), std::nan("")}, nullptr, std::nan(""),
                            "one class");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  ExpectPng(*empty, kPlotWidth, kPlotHeight);
}

TEST(Plot, CalibrationPngHasSignatureSizeAndDependsOnInput) {
  Sample a = MakeSample(3, 0.3, 2.0), rare = MakeSample(4, 0.03, 2.0);
  auto png_a = RenderCalibrationPng(CalibrationTable(a.y, a.p), "calibration a");
  ASSERT_TRUE(png_a.ok()) << png_a.status().ToString();
  ExpectPng(*png_a, kPlotWidth, kPlotHeight);
  MaybeDump("calibration.png", *png_a);
  // A rare event zooms the axes; equal-width bins give different point sizes.
  auto png_rare = RenderCalibrationPng(CalibrationTable(rare.y, rare.p, 10, false), "rare");
  ASSERT_TRUE(png_rare.ok()) << png_rare.status().ToString();
  ExpectPng(*png_rare, kPlotWidth, kPlotHeight);
  MaybeDump("calibration_rare.png", *png_rare);
  EXPECT_NE(*png_a, *png_rare);
  auto none = RenderCalibrationPng({}, "no rows");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  ExpectPng(*none, kPlotWidth, kPlotHeight);
}

}  // namespace
}  // namespace ctml::ml
