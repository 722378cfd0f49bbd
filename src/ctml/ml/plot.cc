// Hand-drawn with cairo's toy text API rather than a plotting library: the two plots need only
// axes, lines, points and a legend, and no C++ plotting library is packaged in Debian.
#include "ctml/ml/plot.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numbers>

namespace ctml::ml {

namespace {

struct Rgb {
  double r, g, b;
};
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGrid{0.9, 0.9, 0.9};
constexpr Rgb kGray{0.55, 0.55, 0.55};
constexpr Rgb kModel{0.12, 0.47, 0.71};    // blue
constexpr Rgb kBaseline{1.0, 0.50, 0.05};  // orange
constexpr double kPi = std::numbers::pi;
constexpr const char* kFont = "DejaVu Sans";

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};

std::string Fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// A 640 x 480 canvas with one square-range plot area: both axes run over [0, range].
class Canvas {
 public:
  static Result<Canvas> Make(double range) {
    Canvas c;
    c.range_ = range;
    c.surface_.reset(cairo_image_surface_create(CAIRO_FORMAT_RGB24, kPlotWidth, kPlotHeight));
    if (cairo_surface_status(c.surface_.get()) != CAIRO_STATUS_SUCCESS) {
      return Status::Internal(std::string("cairo surface: ") +
                              cairo_status_to_string(cairo_surface_status(c.surface_.get())));
    }
    c.cr_.reset(cairo_create(c.surface_.get()));
    cairo_set_source_rgb(c.cr(), 1, 1, 1);
    cairo_paint(c.cr());
    return c;
  }

  cairo_t* cr() { return cr_.get(); }
  double X(double v) const { return kLeft + (kRight - kLeft) * v / range_; }
  double Y(double v) const { return kBottom - (kBottom - kTop) * v / range_; }

  void Color(Rgb c) { cairo_set_source_rgb(cr(), c.r, c.g, c.b); }

  // Text anchored at (x, y): ax/ay = 0 left/top, 0.5 centre, 1 right/bottom of the ink box.
  void Text(const std::string& s, double x, double y, double size, double ax, double ay,
            bool bold = false, bool vertical = false) {
    cairo_select_font_face(cr(), kFont, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr(), size);
    cairo_text_extents_t e;
    cairo_text_extents(cr(), s.c_str(), &e);
    cairo_save(cr());
    cairo_translate(cr(), x, y);
    if (vertical) cairo_rotate(cr(), -kPi / 2);
    cairo_move_to(cr(), -e.x_bearing - e.width * ax, -e.y_bearing - e.height * ay);
    cairo_show_text(cr(), s.c_str());
    cairo_restore(cr());
  }

  double TextWidth(const std::string& s, double size) {
    cairo_select_font_face(cr(), kFont, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr(), size);
    cairo_text_extents_t e;
    cairo_text_extents(cr(), s.c_str(), &e);
    return e.x_advance;
  }

  // Title, grid, frame, ticks with labels every range / 5, axis labels.
  void Axes(const std::string& title, const std::string& xlabel, const std::string& ylabel) {
    const int decimals = range_ <= 0.2 + 1e-12 ? 2 : 1;
    cairo_set_line_width(cr(), 1);
    for (int i = 0; i <= 5; ++i) {
      const double v = range_ * i / 5;
      Color(kGrid);
      cairo_move_to(cr(), X(v), kTop);
      cairo_line_to(cr(), X(v), kBottom);
      cairo_move_to(cr(), kLeft, Y(v));
      cairo_line_to(cr(), kRight, Y(v));
      cairo_stroke(cr());
      Color(kBlack);
      cairo_move_to(cr(), X(v), kBottom);
      cairo_line_to(cr(), X(v), kBottom + 5);
      cairo_move_to(cr(), kLeft, Y(v));
      cairo_line_to(cr(), kLeft - 5, Y(v));
      cairo_stroke(cr());
      Text(Fixed(v, decimals), X(v), kBottom + 9, 12, 0.5, 0);
      Text(Fixed(v, decimals), kLeft - 9, Y(v), 12, 1, 0.5);
    }
    Color(kBlack);
    cairo_rectangle(cr(), kLeft, kTop, kRight - kLeft, kBottom - kTop);
    cairo_stroke(cr());
    Text(title, (kLeft + kRight) / 2, 22, 15, 0.5, 0.5, true);
    Text(xlabel, (kLeft + kRight) / 2, kHeightF - 14, 13, 0.5, 1);
    Text(ylabel, 16, (kTop + kBottom) / 2, 13, 0.5, 0, false, true);
  }

  // Clip drawing to the plot area (curves at the borders keep half their line width).
  void ClipToPlot() {
    cairo_save(cr());
    cairo_rectangle(cr(), kLeft, kTop, kRight - kLeft, kBottom - kTop);
    cairo_clip(cr());
  }
  void Unclip() { cairo_restore(cr()); }

  void Line(double x0, double y0, double x1, double y1, Rgb c, double width, bool dashed) {
    Color(c);
    cairo_set_line_width(cr(), width);
    const double dash[] = {6, 4};
    cairo_set_dash(cr(), dash, dashed ? 2 : 0, 0);
    cairo_move_to(cr(), X(x0), Y(y0));
    cairo_line_to(cr(), X(x1), Y(y1));
    cairo_stroke(cr());
    cairo_set_dash(cr(), nullptr, 0, 0);
  }

  struct LegendEntry {
    std::string text;
    Rgb color;
    enum Marker { kSolid, kDashed, kPoint, kNone } marker = kSolid;
  };
  // A boxed legend in a corner of the plot area: corner 0 = lower right, 1 = upper left.
  void Legend(const std::vector<LegendEntry>& entries, int corner) {
    constexpr double kSize = 12, kRow = 20, kPad = 8, kSample = 28;
    double w = 0;
    for (const auto& e : entries) w = std::max(w, TextWidth(e.text, kSize));
    w += kSample + 3 * kPad;
    const double h = kRow * static_cast<double>(entries.size()) + kPad;
    const double x = corner == 0 ? kRight - w - 10 : kLeft + 10;
    const double y = corner == 0 ? kBottom - h - 10 : kTop + 10;
    cairo_set_source_rgba(cr(), 1, 1, 1, 0.9);
    cairo_rectangle(cr(), x, y, w, h);
    cairo_fill_preserve(cr());
    Color(kGray);
    cairo_set_line_width(cr(), 1);
    cairo_stroke(cr());
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      const double cy = y + kPad / 2 + kRow * (static_cast<double>(i) + 0.5);
      Color(e.color);
      if (e.marker == LegendEntry::kPoint) {
        cairo_arc(cr(), x + kPad + kSample / 2, cy, 4, 0, 2 * kPi);
        cairo_fill(cr());
      } else if (e.marker != LegendEntry::kNone) {
        cairo_set_line_width(cr(), 2);
        const double dash[] = {6, 4};
        cairo_set_dash(cr(), dash, e.marker == LegendEntry::kDashed ? 2 : 0, 0);
        cairo_move_to(cr(), x + kPad, cy);
        cairo_line_to(cr(), x + kPad + kSample, cy);
        cairo_stroke(cr());
        cairo_set_dash(cr(), nullptr, 0, 0);
      }
      Color(kBlack);
      Text(e.text, x + 2 * kPad + kSample, cy, kSize, 0, 0.5);
    }
  }

  Result<std::string> Png() {
    cairo_surface_flush(surface_.get());
    if (cairo_status(cr()) != CAIRO_STATUS_SUCCESS) {
      return Status::Internal(std::string("cairo drawing: ") +
                              cairo_status_to_string(cairo_status(cr())));
    }
    std::string out;
    auto write = [](void* closure, const unsigned char* data,
                    unsigned int length) -> cairo_status_t {
      static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
      return CAIRO_STATUS_SUCCESS;
    };
    cairo_status_t st = cairo_surface_write_to_png_stream(surface_.get(), write, &out);
    if (st != CAIRO_STATUS_SUCCESS) {
      return Status::Internal(std::string("cairo png: ") + cairo_status_to_string(st));
    }
    return out;
  }

  static constexpr double kLeft = 72, kRight = 620, kTop = 44, kBottom = 416;
  static constexpr double kHeightF = kPlotHeight;

 private:
  Canvas() = default;
  double range_ = 1;
  std::unique_ptr<cairo_surface_t, SurfaceDeleter> surface_;
  std::unique_ptr<cairo_t, ContextDeleter> cr_;
};

void Polyline(Canvas& c, const std::vector<RocPoint>& pts, Rgb color) {
  if (pts.empty()) return;
  c.Color(color);
  cairo_set_line_width(c.cr(), 2);
  cairo_set_line_join(c.cr(), CAIRO_LINE_JOIN_ROUND);
  cairo_move_to(c.cr(), c.X(pts[0].fpr), c.Y(pts[0].tpr));
  for (size_t i = 1; i < pts.size(); ++i) cairo_line_to(c.cr(), c.X(pts[i].fpr), c.Y(pts[i].tpr));
  cairo_stroke(c.cr());
}

}  // namespace

Result<std::string> RenderRocPng(const std::vector<RocPoint>& model, double auc, Interval ci,
                                 const std::vector<RocPoint>* baseline, double baseline_auc,
                                 const std::string& title, const std::string& baseline_label) {
  CTML_ASSIGN_OR_RETURN(Canvas c, Canvas::Make(1.0));
  c.Axes(title, "false positive rate (1 - specificity)", "true positive rate (sensitivity)");
  c.ClipToPlot();
  c.Line(0, 0, 1, 1, kGray, 1.5, true);
  if (baseline != nullptr) Polyline(c, *baseline, kBaseline);
  Polyline(c, model, kModel);
  c.Unclip();

  std::string model_text = "model  AUC " + Fixed(auc, 3);
  if (std::isfinite(ci.low) && std::isfinite(ci.high)) {
    model_text += " [" + Fixed(ci.low, 3) + ", " + Fixed(ci.high, 3) + "]";
  }
  if (model.empty()) model_text = "model  ROC undefined (one class in test)";
  std::vector<Canvas::LegendEntry> legend = {{model_text, kModel}};
  if (baseline != nullptr) {
    legend.push_back({baseline_label + "  AUC " + Fixed(baseline_auc, 3), kBaseline});
  }
  legend.push_back({"chance", kGray, Canvas::LegendEntry::kDashed});
  c.Legend(legend, 0);
  return c.Png();
}

Result<std::string> RenderCalibrationPng(const std::vector<CalibrationBin>& bins,
                                         const std::string& title) {
  double hi = 0;
  int64_t max_count = 0, total = 0;
  for (const auto& b : bins) {
    hi = std::max({hi, b.mean_predicted, b.observed_rate});
    max_count = std::max(max_count, b.count);
    total += b.count;
  }
  double range = 1.0;
  for (double r : {0.05, 0.1, 0.2, 0.5}) {
    if (hi <= r * 0.98) {
      range = r;
      break;
    }
  }
  CTML_ASSIGN_OR_RETURN(Canvas c, Canvas::Make(range));
  c.Axes(title, "mean predicted probability", "observed rate");
  c.ClipToPlot();
  c.Line(0, 0, range, range, kGray, 1.5, true);
  if (!bins.empty()) {
    c.Color(kModel);
    cairo_set_line_width(c.cr(), 2);
    for (size_t i = 0; i < bins.size(); ++i) {
      const double x = c.X(bins[i].mean_predicted), y = c.Y(bins[i].observed_rate);
      if (i == 0)
        cairo_move_to(c.cr(), x, y);
      else
        cairo_line_to(c.cr(), x, y);
    }
    cairo_stroke(c.cr());
    c.Unclip();       // points at the borders stay whole
    c.Color(kModel);  // Unclip restored the source colour too
    for (const auto& b : bins) {
      // Area proportional to the bin's rows: radius 3 px (empty) .. 9 px (largest bin).
      const double share = max_count > 0 ? static_cast<double>(b.count) / max_count : 0;
      cairo_arc(c.cr(), c.X(b.mean_predicted), c.Y(b.observed_rate), 3 + 6 * std::sqrt(share), 0,
                2 * kPi);
      cairo_fill(c.cr());
    }
  } else {
    c.Unclip();
  }
  if (bins.empty()) {
    c.Color(kBlack);
    c.Text("no predictions", (Canvas::kLeft + Canvas::kRight) / 2,
           (Canvas::kTop + Canvas::kBottom) / 2, 14, 0.5, 0.5);
  }
  c.Legend({{"model (point area ~ rows in bin)", kModel, Canvas::LegendEntry::kPoint},
            {"perfect calibration", kGray, Canvas::LegendEntry::kDashed},
            {std::to_string(total) + " rows in " + std::to_string(bins.size()) + " bins", kBlack,
             Canvas::LegendEntry::kNone}},
           1);
  return c.Png();
}

}  // namespace ctml::ml
