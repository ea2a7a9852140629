#pragma once
// Charts are written as PNG by the imaging library's encoder.

#include "common/imaging/encode_image.h"

namespace align::plot {

using imaging::EncodePng;

}  // namespace align::plot
