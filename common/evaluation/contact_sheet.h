#pragma once
// An evaluation's contact sheet: one row per prompt, one column per
// checkpoint, each cell the image of that prompt and the same seed (the same
// initial noise for every checkpoint), scaled to fit a square cell; prompts
// label the rows (shortened) and checkpoint names the columns, in the
// bitmap font of common/plot.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/imaging/rgb_image.h"

namespace align::evaluation {

struct ContactSheetLayout {
  int cell = 0;          // side of a cell's square, pixels
  int label_width = 0;   // the row labels' column
  int header_height = 0; // the column labels' row
  int rows = 0, columns = 0;
  int width = 0, height = 0;
  // The top-left pixel of cell (row, column); its image is centred in the cell.
  int CellX(int column) const;
  int CellY(int row) const;
};

inline constexpr int kContactSheetMargin = 8;
inline constexpr int kContactSheetGap = 4;
inline constexpr int kContactSheetTextScale = 1;
// Characters of a prompt kept in its row label.
inline constexpr size_t kContactSheetLabelChars = 32;

ContactSheetLayout LayOutContactSheet(const std::vector<std::string>& row_labels,
                                      const std::vector<std::string>& column_labels, int cell);

// `images[row][column]`, each of any size (scaled down, never up, to fit the
// cell, aspect kept; bilinear) and centred in it. InvalidArgument for no rows or columns, a row
// of the wrong length, an empty image, or a sheet over 16384 pixels a side.
absl::StatusOr<imaging::RgbImage> RenderContactSheet(const std::vector<std::string>& row_labels,
                                                     const std::vector<std::string>& column_labels,
                                                     const std::vector<std::vector<imaging::RgbImage>>& images,
                                                     int cell);

}  // namespace align::evaluation
