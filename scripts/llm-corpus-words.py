#!/usr/bin/env python3
"""
Writes `test/fixtures/llm-corpus-words.txt`: every word (letters and apostrophes, lower case) of the
training corpus that `scripts/train-llm.py` reads, one per line, sorted. The AI modules' test checks that most
words `llm:v1` writes are words of its corpus, and CI has no corpus to read (the fortunes packages are not
installed there). Standard library only.
"""
import importlib.util
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    spec = importlib.util.spec_from_file_location('train_llm', os.path.join(REPO, 'scripts', 'train-llm.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    words = set()
    for record in train.read_records(train.corpus_files()):
        words.update(word.lower() for word in re.findall(r"[A-Za-z']+", record))
    out = os.path.join(REPO, 'test', 'fixtures', 'llm-corpus-words.txt')
    with open(out, 'w') as f:
        f.write('\n'.join(sorted(words)) + '\n')
    print(f'{len(words)} words -> {out}')


if __name__ == '__main__':
    main()
