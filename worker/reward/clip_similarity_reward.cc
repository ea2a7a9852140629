#include "worker/reward/clip_similarity_reward.h"

#include <torch/torch.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/reward/clip_inputs.h"

namespace align::reward {

double ScoreFromCosine(RewardName name, double cosine, double logit_scale_exp) {
  switch (name) {
    case RewardName::kPickScore:
      return logit_scale_exp * cosine;
    case RewardName::kClipScore:
      return 100.0 * std::max(cosine, 0.0);
    case RewardName::kHpsV2:
      return cosine;
    case RewardName::kAesthetic:
      break;
  }
  return 0.0;
}

ClipSimilarityReward::ClipSimilarityReward(RewardName name, models::ClipModel model, models::ClipTokenizer tokenizer,
                                           imaging::ClipImageProcessorConfig preprocess, torch::Device device)
    : name_(name),
      model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      preprocess_(std::move(preprocess)),
      device_(device) {}

absl::StatusOr<std::unique_ptr<ClipSimilarityReward>> ClipSimilarityReward::Load(RewardName name,
                                                                                 const std::string& folder,
                                                                                 torch::Device device) {
  if (name == RewardName::kAesthetic) {
    return absl::InvalidArgumentError("the aesthetic reward scores images alone; it is no CLIP similarity");
  }
  ASSIGN_OR_RETURN(models::ClipModel model,
                   models::LoadClipModel(folder, torch::TensorOptions().dtype(torch::kFloat).device(device)));
  model->eval();
  ASSIGN_OR_RETURN(imaging::ClipImageProcessorConfig preprocess, LoadPreprocessorConfig(folder));
  // open_clip's val transform is torchvision's CenterCrop.
  if (name == RewardName::kHpsV2) preprocess.crop_rounding = imaging::CenterCropRounding::kRoundHalfEven;
  ASSIGN_OR_RETURN(models::ClipTokenizer tokenizer, LoadRewardTokenizer(folder));
  if (tokenizer.vocab_size() != model->config().text.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(folder, ": the tokenizer has ", tokenizer.vocab_size(),
                                                   " entries, the text model ", model->config().text.vocab_size));
  }
  return std::unique_ptr<ClipSimilarityReward>(
      new ClipSimilarityReward(name, std::move(model), std::move(tokenizer), std::move(preprocess), device));
}

std::vector<double> ClipSimilarityReward::ScorePairs(const torch::Tensor& pixel_values,
                                                     const torch::Tensor& input_ids) {
  torch::NoGradGuard no_grad;
  torch::Tensor image = model_->EmbedImages(pixel_values.to(device_, torch::kFloat));
  torch::Tensor text = model_->EmbedText(input_ids.to(device_));
  torch::Tensor cosine = (image / image.norm(2, -1, true) * (text / text.norm(2, -1, true))).sum(-1);
  cosine = cosine.to(torch::kCPU, torch::kDouble).contiguous();
  const double scale = model_->LogitScaleExp();
  std::vector<double> scores(static_cast<size_t>(cosine.size(0)));
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = ScoreFromCosine(name_, cosine.data_ptr<double>()[i], scale);
  return scores;
}

absl::StatusOr<std::vector<double>> ClipSimilarityReward::Score(const std::vector<imaging::RgbImage>& images,
                                                                const std::vector<std::string>& prompts) {
  if (images.size() != prompts.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(images.size(), " images but ", prompts.size(), " prompts: one prompt per image"));
  }
  const int max_length = static_cast<int>(model_->config().text.max_position_embeddings);
  std::vector<double> scores;
  scores.reserve(images.size());
  for (size_t begin = 0; begin < images.size(); begin += kRewardBatchSize) {
    const size_t end = std::min(images.size(), begin + kRewardBatchSize);
    const std::vector<imaging::RgbImage> batch_images(images.begin() + begin, images.begin() + end);
    const std::vector<std::string> batch_prompts(prompts.begin() + begin, prompts.begin() + end);
    ASSIGN_OR_RETURN(torch::Tensor pixels, ClipPixelValues(batch_images, preprocess_, device_));
    const std::vector<double> batch =
        ScorePairs(pixels, ClipInputIds(tokenizer_, batch_prompts, max_length, device_));
    scores.insert(scores.end(), batch.begin(), batch.end());
  }
  return scores;
}

}  // namespace align::reward
