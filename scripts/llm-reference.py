#!/usr/bin/python3
"""The llm model of modules/llm/FORMAT.md in numpy, written to be read: the reference the C code is
tested against.

Loads `models/llm/model.safetensors` and `modules/llm/tokenizer.txt` (numpy and the standard library only),
and writes `modules/llm/testdata/reference.json`: for fixed prompts, the token ids, the 1024 logits of the
prompt's last position, and the greedy continuation of 20 tokens.

    /usr/bin/python3 scripts/llm-reference.py
"""

import json
import os
import struct
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLM_DIR = os.path.join(REPO, 'modules', 'llm')
PROMPTS = ['The meaning of life is', 'Q: How many programmers does it take to change a light bulb?\nA:']
CONTINUATION = 20

CONTEXT = 128
DIM = 192
LAYERS = 4
HEADS = 6
HEAD_DIM = DIM // HEADS
EPS = np.float32(1e-5)


class Tokenizer:
    def __init__(self, path):
        self.merges = {}
        self.pieces = [bytes([b]) for b in range(256)]
        with open(path) as f:
            for index, line in enumerate(f):
                left, right = (int(v) for v in line.split())
                self.merges[(left, right)] = 256 + index
                self.pieces.append(self.pieces[left] + self.pieces[right])

    def encode(self, text):
        """FORMAT.md's rule: repeatedly merge the adjacent pair whose merged id is lowest (leftmost first)."""
        ids = list(text.encode('utf-8'))
        while len(ids) > 1:
            best = None
            for pair in zip(ids, ids[1:]):
                merged = self.merges.get(pair)
                if merged is not None and (best is None or merged < best):
                    best = merged
            if best is None:
                break
            i = 0
            while i < len(ids) - 1:
                if self.merges.get((ids[i], ids[i + 1])) == best:
                    ids[i:i + 2] = [best]
                i += 1
        return ids

    def decode(self, ids):
        return b''.join(self.pieces[i] for i in ids).decode('utf-8', errors='replace')


def load_weights(path):
    with open(path, 'rb') as f:
        data = f.read()
    (header_len,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + header_len])
    weights = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        assert info['dtype'] == 'F32', name
        begin, end = info['data_offsets']
        weights[name] = np.frombuffer(data, dtype='<f4', count=(end - begin) // 4,
                                      offset=8 + header_len + begin).reshape(info['shape'])
    weights['__metadata__'] = header.get('__metadata__', {})
    return weights


def rmsnorm(x, weight):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * weight


def gelu(v):
    return np.float32(0.5) * v * (np.float32(1) + np.tanh(np.float32(0.7978845608) * (v + np.float32(0.044715) * v * v * v)))


def forward(w, ids):
    """Logits [len(ids), 1024] for a sequence of at most 128 tokens, all in float32."""
    t = len(ids)
    assert 0 < t <= CONTEXT
    x = w['tok_emb'][ids] + w['pos_emb'][:t]
    causal = np.triu(np.ones((t, t), dtype=bool), k=1)
    scale = np.float32(1 / np.sqrt(HEAD_DIM))
    for i in range(LAYERS):
        p = f'layers.{i}.'
        n = rmsnorm(x, w[p + 'norm1'])
        q = (n @ w[p + 'wq'].T).reshape(t, HEADS, HEAD_DIM).transpose(1, 0, 2)
        k = (n @ w[p + 'wk'].T).reshape(t, HEADS, HEAD_DIM).transpose(1, 0, 2)
        v = (n @ w[p + 'wv'].T).reshape(t, HEADS, HEAD_DIM).transpose(1, 0, 2)
        scores = (q @ k.transpose(0, 2, 1)) * scale
        scores[:, causal] = -np.inf
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores = scores / scores.sum(-1, keepdims=True)
        attended = (scores @ v).transpose(1, 0, 2).reshape(t, DIM)
        x = x + attended @ w[p + 'wo'].T
        n = rmsnorm(x, w[p + 'norm2'])
        x = x + gelu(n @ w[p + 'w1'].T) @ w[p + 'w2'].T
    return rmsnorm(x, w['norm_f']) @ w['tok_emb'].T


def greedy(w, ids, count):
    ids = list(ids)
    out = []
    for _ in range(count):
        nxt = int(np.argmax(forward(w, ids[-CONTEXT:])[-1]))
        ids.append(nxt)
        out.append(nxt)
    return out


def main():
    tokenizer = Tokenizer(os.path.join(LLM_DIR, 'tokenizer.txt'))
    weights_path = os.path.join(REPO, 'models', 'llm', 'model.safetensors')
    weights = load_weights(weights_path)
    cases = []
    for prompt in PROMPTS:
        ids = tokenizer.encode(prompt)
        logits = forward(weights, ids)[-1]
        assert logits.dtype == np.float32
        continuation = greedy(weights, ids, CONTINUATION)
        cases.append({
            'prompt': prompt,
            'ids': ids,
            'last_logits': [float(v) for v in logits],
            'greedy_ids': continuation,
            'greedy_text': tokenizer.decode(continuation),
        })
        print(f'{prompt!r} -> {tokenizer.decode(continuation)!r}')
    import hashlib
    with open(weights_path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    fixture = {
        'about': 'Written by scripts/llm-reference.py (numpy, float32) from model.safetensors and tokenizer.txt; '
                 'last_logits are the logits of the prompt\'s last position, greedy_ids the argmax continuation.',
        'model_sha256': digest,
        'cases': cases,
    }
    os.makedirs(os.path.join(LLM_DIR, 'testdata'), exist_ok=True)
    out = os.path.join(LLM_DIR, 'testdata', 'reference.json')
    with open(out, 'w') as f:
        json.dump(fixture, f, indent=1)
        f.write('\n')
    print(f'wrote {out}')


if __name__ == '__main__':
    sys.exit(main())
