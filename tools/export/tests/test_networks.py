"""The PyTorch networks: official key names and shapes, and the numerical details of the spec."""
import json
import math
import unittest

import torch
import torch.nn.functional as F

from tools.export.tests import spec_statedict_path
from toklip_export.config import PRESETS, TokLIPConfig, VQConfig, small_config, tiny_config
from toklip_export.model import build_model
from toklip_export.text import TextTransformer
from toklip_export.vit import MASK_VALUE, SemanticViT
from toklip_export.vq import Downsample, Upsample, VQModel


def spec_shapes(name):
    with open(spec_statedict_path(name)) as f:
        return {k: v["shape"] for k, v in json.load(f)["state_dict"].items()}


class OfficialKeysTest(unittest.TestCase):
    def test_full_size_models_have_the_official_keys_and_shapes(self):
        for name in ("toklip-s-256", "toklip-l-384"):
            with self.subTest(preset=name):
                model = build_model(PRESETS[name], init="none")  # untouched memory: no RAM cost
                mine = [(k, list(v.shape)) for k, v in model.state_dict().items()]
                self.assertEqual(mine, list(spec_shapes(name).items()))
                del model

    def test_vq_alone_has_the_llamagen_keys(self):
        vq = VQModel(VQConfig())
        mine = [(k, list(v.shape)) for k, v in vq.state_dict().items()]
        self.assertEqual(mine, list(spec_shapes("llamagen-vq16").items()))

    def test_reduced_models_keep_the_key_names(self):
        # Up to block/level indices, every name of a reduced model is an official name.
        pattern = lambda k: ".".join("#" if p.isdigit() else p for p in k.split("."))  # noqa: E731
        official = {pattern(k) for k in spec_shapes("toklip-s-256")}
        for cfg in (small_config(), tiny_config()):
            keys = {pattern(k) for k in build_model(cfg).state_dict()}
            self.assertEqual(keys - official, set())

    def test_strict_round_trip(self):
        cfg = small_config()
        a, b = build_model(cfg, seed=1), build_model(cfg, seed=2)
        b.load_state_dict(a.state_dict(), strict=True)
        for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            self.assertTrue(torch.equal(x, y), k)


class VQNumericsTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)

    def test_downsample_pads_bottom_and_right_only(self):
        down = Downsample(1)
        with torch.no_grad():
            down.conv.weight.zero_()
            down.conv.weight[0, 0, 0, 0] = 1.0  # picks the top-left of each 3x3 window
            down.conv.bias.zero_()
        x = torch.arange(16.0).reshape(1, 1, 4, 4) + 1
        # windows start at rows/cols 0 and 2: no padding at the top/left
        self.assertEqual(down(x)[0, 0].tolist(), [[1.0, 3.0], [9.0, 11.0]])
        with torch.no_grad():
            down.conv.weight.zero_()
            down.conv.weight[0, 0, 2, 2] = 1.0  # bottom-right of the last window is padding
        self.assertEqual(down(x)[0, 0].tolist(), [[11.0, 0.0], [0.0, 0.0]])

    def test_upsample_replicates_pixels(self):
        up = Upsample(1)
        with torch.no_grad():
            up.conv.weight.zero_()
            up.conv.weight[0, 0, 1, 1] = 1.0
            up.conv.bias.zero_()
        x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
        self.assertEqual(up(x)[0, 0].tolist(), [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])

    def test_groupnorm_is_per_group_with_eps_1e6_and_channel_affine(self):
        vq = VQModel(VQConfig(base_channels=32, channel_multipliers=(1, 1), z_channels=32,
                              codebook_size=16))
        gn = vq.encoder.norm_out
        self.assertEqual((gn.num_groups, gn.eps), (32, 1e-6))
        x = torch.randn(2, 32, 3, 3) * 1e-3  # small variance makes eps visible
        with torch.no_grad():
            gn.weight.normal_()
            gn.bias.normal_()
        g = x.reshape(2, 32, -1)
        ref = (g - g.mean(-1, keepdim=True)) / torch.sqrt(g.var(-1, unbiased=False, keepdim=True) + 1e-6)
        ref = ref.reshape_as(x) * gn.weight[:, None, None] + gn.bias[:, None, None]
        torch.testing.assert_close(gn(x), ref, atol=1e-5, rtol=1e-5)

    def test_quantiser_uses_unit_vectors_and_lowest_index_on_ties(self):
        vq = VQModel(VQConfig(base_channels=32, channel_multipliers=(1, 1), z_channels=32,
                              codebook_size=4, codebook_dim=2))
        with torch.no_grad():
            # rows 1 and 2 point the same way (different norms): a tie after normalisation
            vq.quantize.embedding.weight.copy_(torch.tensor([[-1.0, 0.0], [3.0, 0.0], [0.5, 0.0], [0.0, 1.0]]))
        z = torch.tensor([[2.0, 0.1], [0.0, -5.0]]).t().reshape(1, 2, 1, 2)  # two positions
        quant, ids = vq.quantize(z)
        self.assertEqual(ids.tolist(), [[1, 0]])  # [0,-1] is as far from row 0 as from row 3: 0 wins
        torch.testing.assert_close(quant.reshape(2, 2).t(), torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        self.assertEqual(vq.quantize.ids(z * 1e-6).tolist(), ids.tolist())  # only the direction counts

    def test_decode_ids_equals_decode_of_quant(self):
        cfg = tiny_config()
        vq = build_model(cfg).vq
        x = torch.rand(2, 3, 64, 64) * 2 - 1
        with torch.no_grad():
            quant, ids = vq.encode(x)
            torch.testing.assert_close(vq.decode_ids(ids, cfg.grid), vq.decode(quant), atol=1e-5, rtol=0)
            self.assertEqual(vq(x).shape, (2, 3, 64, 64))


class ViTNumericsTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.cfg = tiny_config()
        self.model = build_model(self.cfg, seed=3)
        self.trunk: SemanticViT = self.model.trunk

    def test_token_mlp_uses_exact_gelu(self):
        codes = F.normalize(torch.randn(5, 8), dim=-1)
        t = self.trunk
        h = t.vq_table(codes)
        exact = t.vq_mapping(0.5 * h * (1 + torch.erf(h / math.sqrt(2))))
        torch.testing.assert_close(t.token_mlp(codes), exact)

    def test_block_mlp_uses_tanh_gelu(self):
        mlp = self.trunk.blocks[0].mlp
        x = torch.randn(3, 32)
        h = mlp.fc1(x)
        tanh = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h ** 3)))
        torch.testing.assert_close(mlp(x), mlp.fc2(tanh))

    def test_layernorm_eps(self):
        eps = {m.eps for m in self.model.modules() if isinstance(m, torch.nn.LayerNorm)}
        self.assertEqual(eps, {1e-6})

    def test_attention_is_causal_in_raster_order(self):
        ids = torch.randint(0, self.cfg.vq.codebook_size, (2, 16))
        changed = ids.clone()
        changed[:, 9:] = (changed[:, 9:] + 1) % self.cfg.vq.codebook_size
        with torch.no_grad():
            f1, _ = self.trunk.encode_ids(ids)
            f2, _ = self.trunk.encode_ids(changed)
            prefix, _ = self.trunk.encode_ids(ids[:, :9])
        torch.testing.assert_close(f1[:, :9], f2[:, :9], atol=1e-6, rtol=0)
        self.assertGreater((f1[:, 9:] - f2[:, 9:]).abs().max().item(), 1e-4)
        torch.testing.assert_close(prefix, f1[:, :9], atol=1e-6, rtol=0)
        self.assertEqual(self.trunk.causal_mask[0, 1].item(), MASK_VALUE)
        self.assertEqual(self.trunk.causal_mask.tril().abs().sum().item(), 0.0)

    def test_pool_attends_to_all_tokens_without_latent_residual(self):
        pool = self.trunk.attn_pool
        x = torch.randn(2, 16, 32)
        with torch.no_grad():
            h, d = pool.heads, 32 // pool.heads
            q = pool.q(pool.latent).reshape(1, 1, h, d).transpose(1, 2)
            k, v = pool.kv(x).reshape(2, 16, 2, h, d).permute(2, 0, 3, 1, 4)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1) @ v
            p = pool.proj(a.transpose(1, 2).reshape(2, 1, 32))
            ref = (p + pool.mlp(pool.norm(p)))[:, 0]
            torch.testing.assert_close(pool(x), ref)

    def test_image_path_from_pixels_equals_path_from_ids(self):
        x = torch.rand(2, 3, 64, 64) * 2 - 1
        with torch.no_grad():
            _, ids = self.trunk.vq.encode(x)
            _, emb_ids = self.trunk.encode_ids(ids)
            emb_pixels = self.model.encode_image(x)
        torch.testing.assert_close(emb_pixels, emb_ids, atol=1e-5, rtol=0)


class TextNumericsTest(unittest.TestCase):
    def test_pools_last_position_and_uses_no_mask(self):
        torch.manual_seed(0)
        cfg = tiny_config().text
        text: TextTransformer = build_model(tiny_config(), seed=4).text
        ids = torch.randint(0, cfg.vocab_size, (2, cfg.context_length))
        with torch.no_grad():
            x = text.token_embedding(ids) + text.positional_embedding
            for block in text.transformer.resblocks:  # full computation at every position
                x = block(x)
            ref = text.text_projection(text.ln_final(x)[:, -1])
            torch.testing.assert_close(text(ids), ref, atol=1e-6, rtol=1e-5)
            # no causal mask: an early token changes the pooled (last) output ...
            other = ids.clone()
            other[:, 0] = (other[:, 0] + 1) % cfg.vocab_size
            self.assertGreater((text(other) - text(ids)).abs().max().item(), 1e-5)


class ConfigTest(unittest.TestCase):
    def test_presets(self):
        s, l = PRESETS["toklip-s-256"], PRESETS["toklip-l-384"]
        self.assertEqual((s.grid, s.num_tokens, s.patch_size), (16, 256, 16))
        self.assertEqual((l.grid, l.num_tokens, l.patch_size), (24, 576, 16))
        self.assertEqual(TokLIPConfig.from_dict(l.to_dict()), l)

    def test_inconsistent_configs_are_refused(self):
        with self.assertRaisesRegex(ValueError, "not divisible by 5 heads"):
            small_config().vision.__class__(width=192, heads=5)
        with self.assertRaisesRegex(ValueError, "position embeddings"):
            TokLIPConfig(image_size=384)


if __name__ == "__main__":
    unittest.main()
