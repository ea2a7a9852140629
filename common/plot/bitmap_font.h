#pragma once
// A 5x7 bitmap font (plus two rows for descenders) for chart labels:
// printable ASCII, drawn at an integer scale. Characters outside 32..126 are
// drawn as '?'.

#include <string>

#include "absl/strings/string_view.h"
#include "common/plot/canvas.h"

namespace align::plot {

inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphHeight = 9;    // rows per cell, descenders included
inline constexpr int kGlyphBaseline = 7;  // rows above the baseline: capitals and digits
// One column of space between characters.
inline constexpr int kGlyphAdvance = kGlyphWidth + 1;

// Rows of the glyph for `c`, top first: kGlyphWidth characters each, '#' for
// ink and '.' for background.
const char* const* GlyphRows(char c);

int TextWidth(absl::string_view text, int scale);
inline int TextHeight(int scale) { return kGlyphHeight * scale; }
// Height of capitals and digits, for centring a label on a tick.
inline int CapHeight(int scale) { return kGlyphBaseline * scale; }

// Draws `text` with its top-left corner at (x, y).
void DrawText(Canvas& canvas, int x, int y, absl::string_view text, Color color, int scale);

}  // namespace align::plot
