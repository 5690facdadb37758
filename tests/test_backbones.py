"""Real image backbones: built offline, trained and explained through the studio's own paths."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from xil import explain, feedback, models, services
from xil.bench import decoy
from xil.models import backbones
from xil.models.io import load_model, model_bytes
from xil.train import TrainConfig, TrainData, train


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return models.build("resnet18", (3, 32, 32), 4, image_size=32)


def test_builtin_backbones_build_offline_with_their_layers():
    vit = models.build("vit_tiny_patch16_224", (3, 32, 32), 3)
    assert vit.spec.input_size == (224, 224)
    assert models.build("resnet18", (3, 32, 32), 3).spec.conv_layer == "resnet.encoder.stages.3"
    assert vit.conv_layer is None and vit.patch_layer is not None  # attention follows the patch conv
    effnet = models.build("efficientnet_b0", (1, 28, 28), 5, image_size=64)
    assert effnet.conv_layer is not None and effnet.patch_layer is None
    assert effnet(torch.rand(2, 1, 28, 28)).shape == (2, 5)  # grey, other size: resized and repeated to RGB
    assert models.lookup("vit_tiny_patch16_224").conv is False and models.lookup("resnet18").conv is True


@pytest.mark.parametrize("arch", ["convnext_tiny", "efficientnet_b0"])
def test_at_32_pixels_the_cam_layer_is_still_a_channels_first_map(arch):
    model = models.build(arch, (3, 32, 32), 3, image_size=32)
    layer = model.conv_layer
    assert not isinstance(layer, torch.nn.Linear | torch.nn.ZeroPad2d), model.spec.conv_layer
    seen = []
    handle = layer.register_forward_hook(lambda m, i, out: seen.append(out.shape))
    model(torch.rand(1, 3, 32, 32))
    handle.remove()
    channels, height, width = seen[0][1:]
    assert height == width >= 2 and channels > width, seen[0]


def test_backbone_takes_images_as_stored_and_names_its_last_stage(resnet):
    # at 32x32 the last stage is 1x1, no map: the last stage with one is the one before
    assert resnet.spec.conv_layer == "resnet.encoder.stages.2"
    assert resnet.head.out_features == 4
    x = torch.rand(3, 3, 48, 40)  # not the model's size: resized inside forward
    assert resnet(x).shape == (3, 4)
    grad = torch.autograd.grad(resnet(x.requires_grad_(True)).sum(), x)[0]
    assert grad.shape == x.shape  # attributions land on the image's own pixels


def test_saved_backbone_loads_without_its_source(tmp_path, resnet):
    path = tmp_path / "model.safetensors"
    path.write_bytes(model_bytes(resnet, "resnet18", (3, 32, 32), 4))
    loaded = load_model(path)
    x = torch.rand(2, 3, 32, 32)
    assert isinstance(loaded, backbones.Backbone) and loaded.spec.input_size == (32, 32)
    assert torch.allclose(loaded(x), resnet.eval()(x), atol=1e-5)


def test_weights_file_fills_every_matching_tensor_but_the_head(tmp_path, resnet):
    state = {k: v.contiguous().clone() for k, v in resnet.net.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(state, tmp_path / "w.pth")
    for name in ("w.safetensors", "w.pth"):
        other = models.build("resnet18", (3, 32, 32), 7, weights=str(tmp_path / name), image_size=32)
        conv = "resnet.embedder.embedder.convolution.weight"
        assert torch.equal(other.net.state_dict()[conv], state[conv])
        assert other.head.out_features == 7  # the head for 7 classes stays new
    save_file({"unrelated.weight": torch.zeros(3)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match="does not fit this architecture"):
        models.build("resnet18", (3, 32, 32), 7, weights=str(tmp_path / "bad.safetensors"))
    vit = models.build("vit_tiny_patch16_224", (3, 32, 32), 2, image_size=32)
    save_file({k: v.contiguous().clone() for k, v in vit.net.state_dict().items()}, str(tmp_path / "vit32.safetensors"))
    with pytest.raises(ValueError, match="other shapes than this model"):  # position embeddings of 32 px
        models.build("vit_tiny_patch16_224", (3, 32, 32), 2, weights=str(tmp_path / "vit32.safetensors"))
    (tmp_path / "saved.safetensors").write_bytes(model_bytes(resnet, "resnet18", (3, 32, 32), 4))
    again = models.build("resnet18", (3, 32, 32), 4, weights=str(tmp_path / "saved.safetensors"), image_size=32)
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(again.eval()(x), resnet.eval()(x), atol=1e-5)  # the studio's own file as weights
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(ValueError, match="safetensors"):
        models.build("resnet18", (3, 32, 32), 7, weights=str(tmp_path / "w.txt"))


def test_hf_folder_loads_with_its_weights_and_normalisation(tmp_path):
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(hidden_sizes=[8, 16], depths=[1, 1], embedding_size=8, layer_type="basic", num_labels=2)
    ResNetForImageClassification(config).to(torch.bfloat16).save_pretrained(tmp_path)  # as many hub models are
    (tmp_path / "preprocessor_config.json").write_text('{"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}')
    model = models.build(f"hf:{tmp_path}", (3, 16, 16), 3, image_size=32)
    assert model.spec.mean == (0.5, 0.5, 0.5) and model.head.out_features == 3
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model(torch.rand(1, 3, 16, 16)).shape == (1, 3)


def test_unknown_or_unusable_backbones_say_what_to_do():
    with pytest.raises(ValueError, match="unknown backbone"):
        models.lookup("nope:resnet")
    with pytest.raises(ValueError, match="unknown architecture"):
        models.lookup("resnet9000")
    with pytest.raises(ValueError, match="for backbones"):
        TrainConfig(arch="mlp", weights="w.safetensors")
    with pytest.raises(ValueError, match="at least 16 pixels"):
        TrainConfig(arch="resnet18", image_size=8)
    with pytest.raises(ValueError, match="safetensors"):
        TrainConfig(arch="resnet18", weights="model.onnx")
    with pytest.raises(ValueError, match="takes no"):
        models.build("cnn", (1, 28, 28), 10, image_size=64)


def test_every_explainer_that_applies_gives_a_map_at_the_image_size(resnet):
    x = torch.rand(1, 3, 32, 32)
    names = explain.available(resnet)
    assert "grad_cam" in names and "patch_ig" not in names
    for name in names:
        attribution, probs = explain.explain(resnet, x, name)
        assert attribution.shape == (1, 32, 32) and attribution.dtype == torch.float32, name
        assert torch.isfinite(attribution).all() and attribution.abs().sum() > 0, name
        assert probs.shape == (1, 4)
    vit = models.build("vit_tiny_patch16_224", (3, 32, 32), 3, image_size=32)  # 2x2 patches of 16
    assert "patch_ig" in explain.available(vit) and "grad_cam" not in explain.available(vit)
    attribution, _ = explain.explain(vit, x, "patch_ig")
    assert attribution.shape == (1, 32, 32) and attribution.abs().sum() > 0


def test_backbone_trains_with_feedback_and_head_only():
    torch.manual_seed(0)
    x, y = torch.rand(16, 3, 32, 32), torch.arange(16) % 2
    mask = torch.zeros(16, 32, 32)
    mask[:, :4, :4] = 1
    data = TrainData(x, y, irrelevant=mask, relevant=1 - mask)
    for method in ("rrr", "rrr_g", "ce"):
        size = 128 if method == "rrr_g" else 32  # a ResNet's map: 4x4 cells at 128 pixels, 2x2 at 32
        cfg = TrainConfig(method=method, arch="resnet18", image_size=size, epochs=1, batch_size=8, device="cpu")
        _, history = train(cfg, data)
        assert history[0]["loss"] == history[0]["loss"], method  # finite
        if method == "rrr":  # a backbone's RRR weight is fixed: the automatic rule's measure does not carry over
            assert history[0]["lambda_"] == feedback.REGISTRY["rrr"].backbone_lambda_per_marked == 1.0
    coarse = TrainConfig(method="rrr_g", arch="resnet18", image_size=32, epochs=1, batch_size=8, device="cpu")
    with pytest.raises(ValueError, match="2x2 map at 32x32 pixels: too coarse"):
        train(coarse, data)
    assert "too coarse" in decoy.skip_reason("rrr_g", "resnet18_half", (3, 32, 32), 32)
    assert decoy.skip_reason("rrr_g", "resnet18_half", (3, 32, 32), 128) is None
    cfg = TrainConfig(method="rrr", arch="resnet18_half", image_size=32, epochs=1, device="cpu", lambda_scale=0.5)
    assert train(cfg, data)[1][0]["lambda_"] == 0.5
    assert services.default_lambda("image", "rrr", "resnet18_half") == 1.0
    assert (
        services.default_lambda("image", "rrr", "mlp") == 10.0
        and services.default_lambda("image", "hint", "resnet18") is None
    )
    cfg = TrainConfig(method="none", arch="resnet18", image_size=32, epochs=1, batch_size=8, device="cpu")
    model = models.build("resnet18", (3, 32, 32), 2, image_size=32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg.train_head_only = True
    trained, _ = train(cfg, data, init=model)
    after = trained.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"net.classifier.1.weight", "net.classifier.1.bias"}  # batch-norm statistics too stay


def test_folding_batch_norms_keeps_predictions_and_explanations():
    torch.manual_seed(0)
    model = models.build("resnet18", (3, 32, 32), 4, image_size=32)
    model.train()(torch.rand(8, 3, 32, 32))  # running statistics that are not the identity
    model.eval()
    folded = backbones.fold_batch_norm(model)
    assert folded is not model and not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-4, rtol=1e-4)
    for method in ("saliency", "grad_cam"):
        torch.testing.assert_close(
            explain.explain(folded, x, method)[0], explain.explain(model, x, method)[0], atol=2e-2, rtol=2e-2
        )
    mlp = models.build("mlp", (1, 28, 28), 10)
    assert backbones.fold_batch_norm(mlp) is mlp  # only backbones are folded


def test_folding_leaves_a_norm_that_does_not_follow_its_convolution():
    class NormFirst(torch.nn.Module):  # registered conv, norm; runs norm(x) then conv
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.norm = torch.nn.BatchNorm2d(3)
            self.head = torch.nn.Linear(3, 2)

        def forward(self, x):
            return self.head(self.conv(self.norm(x)).mean(dim=(2, 3)))

    net = NormFirst()
    net.norm.running_mean.fill_(0.5)
    net.norm.running_var.fill_(0.1)
    model = backbones.Backbone(net, backbones.Spec("torchvision", "normfirst", input_size=(8, 8), conv_layer="conv"))
    assert backbones.fold_batch_norm(model) is model
