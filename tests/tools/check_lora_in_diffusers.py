"""Loads an adapter this service wrote into diffusers the way
StableDiffusionXLPipeline.load_lora_weights loads its UNet part, and checks
that the UNet then computes what the service's merged UNet (lora.save_merged)
computes, so the file's keys and alpha mean in diffusers what they meant in
training. A reference check run by hand (it needs diffusers and peft), not a
test: docs/lora.md gives the command and its last result.

  python3 check_lora_in_diffusers.py CHECKPOINT_DIR BASE_UNET_DIR IO_SAFETENSORS
"""
import json
import sys

import torch
from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
from safetensors import safe_open
from safetensors.torch import load_file


def main(checkpoint, base_unet, io_path):
    io = load_file(io_path)
    kwargs = dict(encoder_hidden_states=io["encoder_hidden_states"],
                  added_cond_kwargs={"text_embeds": io["text_embeds"], "time_ids": io["time_ids"]})

    def run(unet):
        with torch.no_grad():
            return unet(io["sample"], io["timestep"], **kwargs).sample

    adapter = f"{checkpoint}/pytorch_lora_weights.safetensors"
    with safe_open(adapter, "pt") as f:
        metadata = f.metadata() or {}
    unet = UNet2DConditionModel.from_pretrained(base_unet).eval()
    base_out = run(unet)
    # What load_lora_weights does for the UNet (diffusers/loaders/lora_pipeline.py).
    state_dict, network_alphas, lora_metadata = StableDiffusionXLPipeline.lora_state_dict(
        checkpoint, unet_config=unet.config, return_lora_metadata=True)
    assert all("lora" in key for key in state_dict), "load_lora_weights: Invalid LoRA checkpoint."
    StableDiffusionXLPipeline.load_lora_into_unet(state_dict, network_alphas=network_alphas, unet=unet,
                                                  metadata=lora_metadata)
    adapted = run(unet)
    merged = run(UNet2DConditionModel.from_pretrained(f"{checkpoint}/unet").eval())
    scales = sorted({m.scaling["default_0"] for m in unet.modules() if hasattr(m, "scaling") and m.scaling})
    rel = float((adapted - merged).abs().max() / merged.abs().max())
    moved = float((adapted - base_out).abs().max() / base_out.abs().max())
    print(json.dumps({"adapter_keys": len(state_dict), "network_alphas": len(network_alphas or {}),
                      "metadata": sorted(metadata), "peft_scaling": scales,
                      "max_rel_diff_vs_merged": rel, "adapter_changes_output_by": moved}))
    return 0 if rel < 1e-4 and moved > 10 * rel else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
