import json
import tempfile
import unittest
from pathlib import Path

from toklip_train import scenes as S
from toklip_train.tokenizer import (BOS, CONTEXT_LENGTH, EOS, PAD, UNK, VOCAB, canonicalize, decode,
                                    encode, tokenizer_json, write_tokenizer)
from toklip_export.tokenizer import TextSettings, encode_texts


class TokenizerTest(unittest.TestCase):
    def test_special_ids_follow_the_manifest_convention(self):
        self.assertEqual((VOCAB["<pad>"], VOCAB["<eos>"], VOCAB["<bos>"], VOCAB["<unk>"]), (PAD, EOS, BOS, UNK))
        self.assertEqual((PAD, EOS, BOS, UNK), (0, 1, 2, 3))
        self.assertEqual(sorted(VOCAB.values()), list(range(len(VOCAB))))

    def test_layout_no_bos_eos_then_padding(self):
        ids = encode("a red circle")
        self.assertEqual(ids[:4], [VOCAB["a"], VOCAB["red"], VOCAB["circle"], EOS])
        self.assertEqual(ids[4:], [PAD] * (CONTEXT_LENGTH - 4))
        self.assertEqual(decode(ids), "a red circle")

    def test_unknown_words_and_truncation(self):
        self.assertEqual(encode("a crimson circle")[:4], [VOCAB["a"], UNK, VOCAB["circle"], EOS])
        long = encode(" ".join(["red"] * 100))
        self.assertEqual(len(long), CONTEXT_LENGTH)
        self.assertEqual(long[-1], EOS)

    def test_canonicalize(self):
        self.assertEqual(canonicalize("  A Red_Circle, &amp; a   BLUE star! "), "a red circle a blue star")

    def test_tokenizers_js_gives_the_same_ids(self):
        texts = [S.scene("train", i, 0).caption for i in range(40)]
        texts += [S.scene("heldout", i, 0).caption for i in range(40)]
        texts += ["a red circle", "A Red  Circle", "a crimson circle and a purple hexagon", "",
                  "a small star in the center", "redcircle", "a red circle, please!"]
        with tempfile.TemporaryDirectory() as tmp:
            path = write_tokenizer(Path(tmp) / "tokenizer.json")
            settings = TextSettings.from_tokenizer_json(str(path), CONTEXT_LENGTH, len(VOCAB))
            self.assertEqual((settings.pad_id, settings.eos_id, settings.bos_id), (PAD, EOS, BOS))
            # the service canonicalizes before tokenizing (manifest text.cleaning)
            js = encode_texts(str(path), [canonicalize(t) for t in texts], settings)
        for text, row in zip(texts, js.tolist()):
            self.assertEqual(row, encode(text), text)

    def test_json_is_plain_and_stable(self):
        data = tokenizer_json()
        self.assertEqual(data["model"]["type"], "WordPiece")
        self.assertFalse(any(k.startswith("##") for k in data["model"]["vocab"]))
        self.assertEqual(json.loads(json.dumps(data)), data)


if __name__ == "__main__":
    unittest.main()
