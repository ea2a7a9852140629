#include "common/diffusers/clip_config_fields.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace align::diffusers {

void ReadClipArchitecture(ConfigReader& r, const std::string& model_class, std::optional<bool>* with_projection) {
  const std::string projected = model_class + "WithProjection";
  const std::vector<std::string> architectures = r.StringList("architectures");
  if (architectures.size() == 1 && architectures[0] == model_class) {
    *with_projection = false;
  } else if (architectures.size() == 1 && architectures[0] == projected) {
    *with_projection = true;
  } else if (!architectures.empty()) {
    r.Fail(absl::StrCat("architectures [", absl::StrJoin(architectures, ", "), "] is not supported (supported: ",
                        model_class, ", ", projected, ")"));
  }
}

void ReadClipActivation(ConfigReader& r, ClipActivation* act) {
  const std::string name = r.String("hidden_act", "quick_gelu");
  if (name == "quick_gelu") {
    *act = ClipActivation::kQuickGelu;
  } else if (name == "gelu") {
    *act = ClipActivation::kGelu;
  } else {
    r.Fail(absl::StrCat("hidden_act '", name, "' is not supported (supported: quick_gelu, gelu)"));
  }
}

void ExpectNoClipDropout(ConfigReader& r) {
  r.ExpectOneOf("attention_dropout", {0, 0.0});
  r.ExpectOneOf("dropout", {0, 0.0});
}

}  // namespace align::diffusers
