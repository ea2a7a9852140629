#pragma once
// The rewards that compare an image with its prompt through a whole CLIPModel
// (clip_model.h), each a function of the cosine between the projected image
// and text embeddings:
//   pickscore: exp(logit_scale) * cos   (PickScore_v1; its logit_scale is ~100)
//   clipscore: 100 * max(cos, 0)        (torchmetrics' CLIPScore of one pair; it
//                                        clamps the mean of a batch)
//   hpsv2:     cos                      (HPSv2's img_score.score: the diagonal
//                                        of image_features @ text_features.T,
//                                        both L2-normalised, no scale)
// See docs/reward-models.md for the sources.

#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/imaging/clip_preprocess.h"
#include "common/reward_name.h"
#include "worker/models/clip_model.h"
#include "worker/models/clip_tokenizer.h"
#include "worker/reward/reward_model.h"

namespace align::reward {

// The score of one pair from its cosine; `logit_scale_exp` = exp(logit_scale).
// `name` must be pickscore, clipscore or hpsv2.
double ScoreFromCosine(RewardName name, double cosine, double logit_scale_exp);

class ClipSimilarityReward : public RewardModel {
 public:
  // `folder`: a CLIPModel folder (config.json, model.safetensors) with
  // preprocessor_config.json and the tokenizer (clip_inputs.h). For hpsv2 the
  // center crop rounds as torchvision's (open_clip's transform).
  static absl::StatusOr<std::unique_ptr<ClipSimilarityReward>> Load(RewardName name, const std::string& folder,
                                                                    torch::Device device);

  absl::StatusOr<std::vector<double>> Score(const std::vector<imaging::RgbImage>& images,
                                            const std::vector<std::string>& prompts) override;
  // The scoring core on model inputs: pixel_values [N, 3, S, S] (normalised),
  // input_ids [N, T]; row i of each is one pair.
  std::vector<double> ScorePairs(const torch::Tensor& pixel_values, const torch::Tensor& input_ids);

 private:
  ClipSimilarityReward(RewardName name, models::ClipModel model, models::ClipTokenizer tokenizer,
                       imaging::ClipImageProcessorConfig preprocess, torch::Device device);

  RewardName name_;
  models::ClipModel model_;
  models::ClipTokenizer tokenizer_;
  imaging::ClipImageProcessorConfig preprocess_;
  torch::Device device_;
};

}  // namespace align::reward
