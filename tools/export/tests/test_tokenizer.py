"""Text settings read from tokenizer.json, input_ids layout, tokenisation through Node."""
import json
import os
import tempfile
import unittest

from tools.export.tests import REPO_ROOT
from toklip_export.tokenizer import TextSettings, TokenizerError, encode_texts

FIXTURE_TOKENIZER = os.path.join(REPO_ROOT, "test", "fixtures", "bundles", "tiny-64", "tokenizer.json")


class LayoutTest(unittest.TestCase):
    def test_tokens_then_eos_then_padding(self):
        s = TextSettings(context_length=6, pad_id=0, eos_id=1, bos_id=2)
        self.assertEqual(s.layout([[7, 8], []]).tolist(), [[7, 8, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])

    def test_truncation_keeps_eos_last(self):
        s = TextSettings(context_length=4)
        self.assertEqual(s.layout([[5, 6, 7, 8, 9]]).tolist(), [[5, 6, 7, 1]])


class TokenizerJsonTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        with open(FIXTURE_TOKENIZER) as f:
            self.data = json.load(f)

    def write(self, data):
        path = os.path.join(self.tmp.name, "tokenizer.json")
        with open(path, "w") as f:
            json.dump(data, f)
        return path

    def test_special_ids_come_from_the_file(self):
        for t in self.data["added_tokens"]:
            t["id"] = {"<pad>": 3, "<eos>": 2, "<bos>": 1, "<unk>": 0}[t["content"]]
        s = TextSettings.from_tokenizer_json(self.write(self.data), 16, 69)
        self.assertEqual((s.pad_id, s.eos_id, s.bos_id), (3, 2, 1))

    def test_vocabulary_larger_than_the_embedding(self):
        with self.assertRaisesRegex(TokenizerError, r"has 69 tokens but the text tower's embedding has only 50 rows"):
            TextSettings.from_tokenizer_json(self.write(self.data), 16, 50)

    def test_missing_special_token(self):
        self.data["added_tokens"] = [t for t in self.data["added_tokens"] if t["content"] != "<eos>"]
        del self.data["model"]["vocab"]["<eos>"]
        with self.assertRaisesRegex(TokenizerError, r"has no eos token \(looked for <eos>, </s>"):
            TextSettings.from_tokenizer_json(self.write(self.data), 16, 69)

    def test_not_a_tokenizer(self):
        with self.assertRaisesRegex(TokenizerError, "is not a Hugging Face tokenizer.json"):
            TextSettings.from_tokenizer_json(self.write({"vocab": {}}), 16, 69)

    def test_tokenisation_in_node(self):
        s = TextSettings.from_tokenizer_json(FIXTURE_TOKENIZER, 16, 69)
        ids = encode_texts(FIXTURE_TOKENIZER, ["a photo of a cat", "a zebra"], s)
        vocab = self.data["model"]["vocab"]
        expected = [vocab[w] for w in "a photo of a cat".split()]
        self.assertEqual(ids[0].tolist(), expected + [1] + [0] * (16 - len(expected) - 1))
        self.assertEqual(ids[1, :3].tolist(), [vocab["a"], vocab["<unk>"], 1])  # unknown word: <unk>, no bos


if __name__ == "__main__":
    unittest.main()
