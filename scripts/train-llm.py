#!/usr/bin/python3
"""Trains the llm model of modules/llm/FORMAT.md from text a Debian package ships.

Owns the whole path from corpus to files: reads the fortune cookies of Debian's `fortunes` and
`fortunes-min` packages, learns the byte-level BPE tokenizer, trains the transformer with torch (float32,
CPU, fixed seeds) and writes `modules/llm/tokenizer.txt` and `models/llm/model.safetensors`.
Runs offline with Debian's python3-torch and python3-numpy; CI never runs it (see modules/llm/TRAINING.md).

    /usr/bin/python3 scripts/train-llm.py --steps 3400 --max-minutes 33
"""

import os

# One BLAS thread: on a small shared machine, torch's and OpenBLAS's thread pools waiting on each other
# made a step two to four times slower than one thread (measured; see modules/llm/TRAINING.md).
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

import argparse
import importlib.util
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORTUNES_DIR = '/usr/share/games/fortunes'
# Everything the two packages install there except ascii-art, which is pictures rather than text.
# The .dat/.u8 files are indexes and links, not text.
EXCLUDED = {'ascii-art'}

VOCAB = 1024
MERGES = VOCAB - 256
CONTEXT = 128
DIM = 192
LAYERS = 4
HEADS = 6
HEAD_DIM = DIM // HEADS
HIDDEN = 4 * DIM
EPS = 1e-5
METADATA = {'format': 'lilypad-llm-1', 'vocab': '1024', 'context': '128', 'dim': '192', 'layers': '4',
            'heads': '6'}
# The held-out records: every VALIDATION_EVERY-th record of the corpus.
VALIDATION_EVERY = 40


def log(message):
    print(message, flush=True)


# ---------------------------------------------------------------- corpus

def corpus_files():
    names = sorted(os.listdir(FORTUNES_DIR))
    return [os.path.join(FORTUNES_DIR, name) for name in names
            if not name.endswith('.dat') and not name.endswith('.u8') and name not in EXCLUDED
            and os.path.isfile(os.path.join(FORTUNES_DIR, name))]


def read_records(paths):
    """The fortune records, in file order: text between lines that are a single `%`."""
    records = []
    for path in paths:
        with open(path, 'rb') as f:
            lines = f.read().decode('utf-8', errors='replace').split('\n')
        current = []
        for line in lines:
            if line == '%':
                if ''.join(current).strip():
                    records.append('\n'.join(current).rstrip() + '\n')
                current = []
            else:
                current.append(line.rstrip())
        if ''.join(current).strip():
            records.append('\n'.join(current).rstrip() + '\n')
    return records


# ---------------------------------------------------------------- tokenizer

def merge_pair(seq, left, right, new_id):
    """Replaces every occurrence of (left, right), leftmost first, by new_id."""
    hits = np.nonzero((seq[:-1] == left) & (seq[1:] == right))[0]
    if len(hits) == 0:
        return seq
    if left == right:
        # "aaa": the leftmost pair merges, so the next one that overlaps it does not.
        kept = []
        last = -2
        for i in hits.tolist():
            if i != last + 1:
                kept.append(i)
                last = i
        hits = np.array(kept, dtype=np.int64)
    seq = seq.copy()
    seq[hits] = new_id
    keep = np.ones(len(seq), dtype=bool)
    keep[hits + 1] = False
    return seq[keep]


def train_tokenizer(data):
    """Learns MERGES merges on the byte sequence (no pre-splitting, so merges may cross words) and
    returns them with the data encoded. Each step merges the most frequent adjacent pair (ties: lowest
    left id, then lowest right id), so applying merges in id order, which is FORMAT.md's encode rule,
    gives exactly this encoding."""
    seq = np.frombuffer(data, dtype=np.uint8).astype(np.int32)
    merges = []
    for k in range(MERGES):
        codes = seq[:-1] * VOCAB + seq[1:]
        counts = np.bincount(codes, minlength=VOCAB * VOCAB)
        best = int(np.argmax(counts))
        left, right = divmod(best, VOCAB)
        merges.append((left, right))
        seq = merge_pair(seq, left, right, 256 + k)
        if (k + 1) % 128 == 0:
            log(f'tokenizer: {k + 1} merges, {len(seq)} tokens ({len(data) / len(seq):.2f} bytes/token)')
    return merges, seq


def apply_merges(data, merges):
    seq = np.frombuffer(data, dtype=np.uint8).astype(np.int32)
    for k, (left, right) in enumerate(merges):
        seq = merge_pair(seq, left, right, 256 + k)
    return seq


def write_tokenizer(path, merges):
    with open(path, 'w') as f:
        for left, right in merges:
            f.write(f'{left} {right}\n')


# ---------------------------------------------------------------- model

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        p = torch.nn.Parameter
        self.tok_emb = p(torch.empty(VOCAB, DIM))
        self.pos_emb = p(torch.empty(CONTEXT, DIM))
        self.layers = torch.nn.ModuleList()
        for _ in range(LAYERS):
            layer = torch.nn.Module()
            layer.norm1 = p(torch.ones(DIM))
            layer.wq = p(torch.empty(DIM, DIM))
            layer.wk = p(torch.empty(DIM, DIM))
            layer.wv = p(torch.empty(DIM, DIM))
            layer.wo = p(torch.empty(DIM, DIM))
            layer.norm2 = p(torch.ones(DIM))
            layer.w1 = p(torch.empty(HIDDEN, DIM))
            layer.w2 = p(torch.empty(DIM, HIDDEN))
            self.layers.append(layer)
        self.norm_f = p(torch.ones(DIM))
        for name, param in self.named_parameters():
            if param.dim() < 2:
                continue
            std = 0.02
            if name.endswith('.wo') or name.endswith('.w2'):
                std = 0.02 / math.sqrt(2 * LAYERS)  # residual branches, as GPT-2 scales them
            torch.nn.init.normal_(param, 0.0, std)

    @staticmethod
    def rmsnorm(x, weight):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * weight

    def forward(self, tokens):
        b, t = tokens.shape
        x = self.tok_emb[tokens] + self.pos_emb[:t]
        mask = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()
        for layer in self.layers:
            n = self.rmsnorm(x, layer.norm1)
            q = (n @ layer.wq.t()).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
            k = (n @ layer.wk.t()).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
            v = (n @ layer.wv.t()).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(HEAD_DIM)
            scores = scores.masked_fill(~mask, float('-inf'))
            attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, DIM)
            x = x + attended @ layer.wo.t()
            n = self.rmsnorm(x, layer.norm2)
            x = x + F.gelu(n @ layer.w1.t(), approximate='tanh') @ layer.w2.t()
        return self.rmsnorm(x, self.norm_f) @ self.tok_emb.t()

    def tensors(self):
        """The tensors in FORMAT.md's order and names."""
        out = [('tok_emb', self.tok_emb), ('pos_emb', self.pos_emb)]
        for i, layer in enumerate(self.layers):
            for name in ('norm1', 'wq', 'wk', 'wv', 'wo', 'norm2', 'w1', 'w2'):
                out.append((f'layers.{i}.{name}', getattr(layer, name)))
        out.append(('norm_f', self.norm_f))
        return out


def write_safetensors(path, tensors, metadata):
    """safetensors by hand: u64 little-endian header length, JSON header (padded with spaces to a
    multiple of 8), then the tensors' little-endian float32 bytes back to back in header order."""
    header = {'__metadata__': metadata}
    blobs = []
    offset = 0
    for name, tensor in tensors:
        array = np.ascontiguousarray(tensor.detach().cpu().numpy().astype('<f4'))
        blob = array.tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(array.shape), 'data_offsets': [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header_bytes = json.dumps(header, separators=(',', ':')).encode('utf-8')
    header_bytes += b' ' * ((8 - len(header_bytes) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(header_bytes)))
        f.write(header_bytes)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


# ---------------------------------------------------------------- training

def batch(tokens, batch_size, generator):
    starts = torch.randint(0, len(tokens) - CONTEXT - 1, (batch_size,), generator=generator)
    rows = torch.stack([tokens[s:s + CONTEXT + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


@torch.no_grad()
def evaluate(model, tokens, windows=64, batch_size=16):
    """Mean loss per token (nats) over `windows` evenly spaced windows of the split."""
    model.eval()
    step = max(1, (len(tokens) - CONTEXT - 1) // windows)
    starts = list(range(0, len(tokens) - CONTEXT - 1, step))[:windows]
    total, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        rows = torch.stack([tokens[s:s + CONTEXT + 1] for s in starts[i:i + batch_size]])
        logits = model(rows[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, VOCAB), rows[:, 1:].reshape(-1), reduction='sum').item()
        count += rows[:, 1:].numel()
    model.train()
    return total / count


def learning_rate(step, steps, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@torch.no_grad()
def sample(model, ids, count, temperature, generator):
    model.eval()
    ids = list(ids)
    for _ in range(count):
        logits = model(torch.tensor([ids[-CONTEXT:]]))[0, -1]
        probs = torch.softmax(logits / temperature, -1)
        ids.append(int(torch.multinomial(probs, 1, generator=generator)))
    model.train()
    return ids


def load_reference():
    spec = importlib.util.spec_from_file_location('llm_reference', os.path.join(REPO, 'scripts', 'llm-reference.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=3400, help='optimizer steps (the schedule spans them)')
    parser.add_argument('--max-minutes', type=float, default=33.0,
                        help='stop training early when this much wall time has passed since the start')
    parser.add_argument('--batch', type=int, default=16, help='sequences of 128 tokens per step')
    parser.add_argument('--lr', type=float, default=3e-3, help='peak learning rate')
    parser.add_argument('--warmup', type=int, default=100)
    parser.add_argument('--weight-decay', type=float, default=0.1)
    parser.add_argument('--seed', type=int, default=1337)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--eval-every', type=int, default=250)
    parser.add_argument('--out', default=os.path.join(REPO, 'modules', 'llm'))
    # The weights ship as data (models/), not inside the module: a module's identity is its folder's CID.
    parser.add_argument('--weights-out', default=os.path.join(REPO, 'models', 'llm'))
    args = parser.parse_args()

    started = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    paths = corpus_files()
    records = read_records(paths)
    train_records = [r for i, r in enumerate(records) if i % VALIDATION_EVERY != VALIDATION_EVERY - 1]
    val_records = [r for i, r in enumerate(records) if i % VALIDATION_EVERY == VALIDATION_EVERY - 1]
    # Records are separated by a blank line, which is how the model learns where one ends.
    train_bytes = '\n'.join(train_records).encode('utf-8')
    val_bytes = '\n'.join(val_records).encode('utf-8')
    log(f'corpus: {len(paths)} files, {len(records)} records; train {len(train_bytes)} bytes, '
        f'validation {len(val_bytes)} bytes ({len(val_records)} records)')

    merges, train_ids = train_tokenizer(train_bytes)
    val_ids = apply_merges(val_bytes, merges)
    os.makedirs(args.out, exist_ok=True)
    write_tokenizer(os.path.join(args.out, 'tokenizer.txt'), merges)
    log(f'tokenizer: train {len(train_ids)} tokens, validation {len(val_ids)} tokens, '
        f'{time.time() - started:.0f}s')

    reference = load_reference()
    tokenizer = reference.Tokenizer(os.path.join(args.out, 'tokenizer.txt'))
    for record in val_records[:20]:
        assert tokenizer.encode(record) == apply_merges(record.encode('utf-8'), merges).tolist()
        assert tokenizer.decode(tokenizer.encode(record)) == record
    log('tokenizer: encode rule of FORMAT.md agrees with the training merges on 20 records')

    train_tokens = torch.from_numpy(train_ids.astype(np.int64))
    val_tokens = torch.from_numpy(val_ids.astype(np.int64))
    model = Model()
    params = sum(p.numel() for p in model.parameters())
    log(f'model: {params} parameters')
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{'params': decay, 'weight_decay': args.weight_decay},
                                   {'params': no_decay, 'weight_decay': 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    generator = torch.Generator().manual_seed(args.seed)
    train_started = time.time()
    running = None
    steps_done = 0
    for step in range(args.steps):
        if time.time() - started > args.max_minutes * 60:
            log(f'time budget of {args.max_minutes} minutes reached at step {step}')
            break
        lr = learning_rate(step, args.steps, args.lr, args.warmup)
        for group in optimizer.param_groups:
            group['lr'] = lr
        inputs, targets = batch(train_tokens, args.batch, generator)
        loss = F.cross_entropy(model(inputs).reshape(-1, VOCAB), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        steps_done = step + 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0:
            elapsed = time.time() - train_started
            log(f'step {step} loss {loss.item():.4f} (smoothed {running:.4f}) lr {lr:.2e} '
                f'{elapsed:.0f}s {(step + 1) * args.batch * CONTEXT / max(elapsed, 1e-9):.0f} tokens/s')
        if args.eval_every and step % args.eval_every == args.eval_every - 1:
            log(f'step {step} validation loss {evaluate(model, val_tokens):.4f}')
    train_seconds = time.time() - train_started

    train_loss = evaluate(model, train_tokens, windows=256)
    val_loss = evaluate(model, val_tokens, windows=256)
    log(f'done: {steps_done} steps in {train_seconds:.0f}s; loss per token (nats): train {train_loss:.4f}, '
        f'validation {val_loss:.4f}')

    weights_path = os.path.join(args.weights_out, 'model.safetensors')
    os.makedirs(args.weights_out, exist_ok=True)
    write_safetensors(weights_path, model.tensors(), METADATA)
    log(f'wrote {weights_path} ({os.path.getsize(weights_path)} bytes)')

    # The numpy reference reads the files just written; its logits must be torch's.
    weights = reference.load_weights(weights_path)
    worst = 0.0
    for prompt in ('The meaning of life is', 'Q: What do you call'):
        ids = tokenizer.encode(prompt)
        with torch.no_grad():
            expected = model(torch.tensor([ids]))[0, -1].numpy()
        got = reference.forward(weights, ids)[-1]
        worst = max(worst, float(np.abs(expected - got).max()))
    log(f'numpy reference against torch: max |logit difference| {worst:.2e} ({"ok" if worst < 1e-4 else "TOO LARGE"})')

    sampler = torch.Generator().manual_seed(args.seed)
    for prompt in ('The meaning of life is', 'Q: What do you call', 'A computer'):
        ids = sample(model, tokenizer.encode(prompt), 60, 0.8, sampler)
        log(f'sample (temperature 0.8): {tokenizer.decode(ids)!r}')
    log(f'total wall time {time.time() - started:.0f}s')


if __name__ == '__main__':
    sys.exit(main())
