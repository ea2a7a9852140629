#pragma once
// The keys transformers' PretrainedConfig writes into every config.json
// (older versions wrote them all) that change nothing a CLIP tower computes:
// token ids other than the pooling one, initialisation, storage dtype, Python
// API switches, heads for other tasks, text generation settings. Shared by
// the CLIP text, vision and whole-model configs. Free of LibTorch.

#include "common/config_reader.h"

namespace align::diffusers {

// Marks each of those keys read in `reader`.
void IgnorePretrainedConfigKeys(ConfigReader& reader);

}  // namespace align::diffusers
