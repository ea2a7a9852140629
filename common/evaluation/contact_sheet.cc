#include "common/evaluation/contact_sheet.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/imaging/resample.h"
#include "common/plot/bitmap_font.h"
#include "common/plot/canvas.h"
#include "common/plot/line_chart.h"

namespace align::evaluation {
namespace {

constexpr int kMaxSide = 16384;

std::string RowLabel(const std::string& prompt) {
  if (prompt.size() <= kContactSheetLabelChars) return prompt;
  return prompt.substr(0, kContactSheetLabelChars - 3) + "...";
}

}  // namespace

int ContactSheetLayout::CellX(int column) const {
  return kContactSheetMargin + label_width + column * (cell + kContactSheetGap);
}

int ContactSheetLayout::CellY(int row) const {
  return kContactSheetMargin + header_height + row * (cell + kContactSheetGap);
}

ContactSheetLayout LayOutContactSheet(const std::vector<std::string>& row_labels,
                                      const std::vector<std::string>& column_labels, int cell) {
  const int s = kContactSheetTextScale;
  ContactSheetLayout layout;
  layout.cell = cell;
  layout.rows = static_cast<int>(row_labels.size());
  layout.columns = static_cast<int>(column_labels.size());
  for (const std::string& label : row_labels) {
    layout.label_width = std::max(layout.label_width, plot::TextWidth(RowLabel(label), s) + kContactSheetGap * 2);
  }
  layout.header_height = plot::TextHeight(s) + kContactSheetGap * 2;
  layout.width = layout.CellX(layout.columns) - kContactSheetGap + kContactSheetMargin;
  layout.height = layout.CellY(layout.rows) - kContactSheetGap + kContactSheetMargin;
  return layout;
}

absl::StatusOr<imaging::RgbImage> RenderContactSheet(const std::vector<std::string>& row_labels,
                                                     const std::vector<std::string>& column_labels,
                                                     const std::vector<std::vector<imaging::RgbImage>>& images,
                                                     int cell) {
  if (row_labels.empty() || column_labels.empty() || images.size() != row_labels.size() || cell < 8) {
    return absl::InvalidArgumentError(absl::StrCat("a contact sheet needs rows, columns, one image row per label and "
                                                   "cells of at least 8 pixels; got ",
                                                   row_labels.size(), " labels for ", images.size(), " rows, ",
                                                   column_labels.size(), " columns, cell ", cell));
  }
  const ContactSheetLayout layout = LayOutContactSheet(row_labels, column_labels, cell);
  if (layout.width > kMaxSide || layout.height > kMaxSide) {
    return absl::InvalidArgumentError(
        absl::StrCat("a contact sheet of ", layout.width, "x", layout.height, " pixels is over ", kMaxSide, " a side"));
  }
  const int s = kContactSheetTextScale;
  plot::Canvas canvas(layout.width, layout.height, plot::kBackground);
  for (int c = 0; c < layout.columns; ++c) {
    // Centred over its column, cut to the cell's width.
    std::string label = column_labels[c];
    while (!label.empty() && plot::TextWidth(label, s) > cell) label.pop_back();
    plot::DrawText(canvas, layout.CellX(c) + (cell - plot::TextWidth(label, s)) / 2, kContactSheetMargin, label,
                   plot::kInk, s);
  }
  for (int r = 0; r < layout.rows; ++r) {
    if (static_cast<int>(images[r].size()) != layout.columns) {
      return absl::InvalidArgumentError(
          absl::StrCat("contact sheet row ", r, " has ", images[r].size(), " images for ", layout.columns, " columns"));
    }
    plot::DrawText(canvas, kContactSheetMargin, layout.CellY(r) + (cell - plot::TextHeight(s)) / 2,
                   RowLabel(row_labels[r]), plot::kInk, s);
    for (int c = 0; c < layout.columns; ++c) {
      const imaging::RgbImage& image = images[r][c];
      if (image.width <= 0 || image.height <= 0) {
        return absl::InvalidArgumentError(absl::StrCat("contact sheet cell (", r, ", ", c, ") has no image"));
      }
      const double scale = std::min(1.0, static_cast<double>(cell) / std::max(image.width, image.height));
      const int w = std::max(1, static_cast<int>(image.width * scale));
      const int h = std::max(1, static_cast<int>(image.height * scale));
      const imaging::RgbImage fitted =
          (w == image.width && h == image.height) ? image
                                                  : imaging::Resize(image, w, h, imaging::ResampleFilter::kBilinear);
      // Centred in its cell.
      const int x0 = layout.CellX(c) + (cell - w) / 2, y0 = layout.CellY(r) + (cell - h) / 2;
      for (int y = 0; y < h; ++y) {
        const uint8_t* row = fitted.Row(y);
        for (int x = 0; x < w; ++x) canvas.Set(x0 + x, y0 + y, {row[3 * x], row[3 * x + 1], row[3 * x + 2]});
      }
    }
  }
  return std::move(canvas).Release();
}

}  // namespace align::evaluation
