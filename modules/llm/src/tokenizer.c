#include "tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define PAIR_SLOTS 4096 /* open addressing, a power of two well above TOKENIZER_MERGES */

static unsigned char *token_bytes; /* every token's bytes, back to back */
static size_t token_offset[TOKENIZER_VOCAB + 1];
static uint32_t pair_key[PAIR_SLOTS];  /* left * VOCAB + right + 1; 0 means empty */
static int pair_merged[PAIR_SLOTS];

static size_t pair_slot(uint32_t key) {
  size_t slot = (key * 2654435761u) & (PAIR_SLOTS - 1);
  while (pair_key[slot] && pair_key[slot] != key) slot = (slot + 1) & (PAIR_SLOTS - 1);
  return slot;
}

/* The id that merges (left, right), or -1. */
static int merged_id(int left, int right) {
  size_t slot = pair_slot((uint32_t)(left * TOKENIZER_VOCAB + right + 1));
  return pair_key[slot] ? pair_merged[slot] : -1;
}

void tokenizer_init(void) {
  size_t lengths[TOKENIZER_VOCAB];
  for (int id = 0; id < 256; id++) lengths[id] = 1;
  for (int i = 0; i < TOKENIZER_MERGES; i++) {
    int left = llm_tokenizer_merges[i][0], right = llm_tokenizer_merges[i][1];
    if (left >= 256 + i || right >= 256 + i) die("the embedded tokenizer is broken: merge %d names a later token", 256 + i);
    lengths[256 + i] = lengths[left] + lengths[right];
    uint32_t key = (uint32_t)(left * TOKENIZER_VOCAB + right + 1);
    size_t slot = pair_slot(key);
    if (!pair_key[slot]) pair_key[slot] = key, pair_merged[slot] = 256 + i; /* a repeated pair: the lowest id wins */
  }
  token_offset[0] = 0;
  for (int id = 0; id < TOKENIZER_VOCAB; id++) token_offset[id + 1] = token_offset[id] + lengths[id];
  token_bytes = xmalloc(token_offset[TOKENIZER_VOCAB]);
  for (int id = 0; id < 256; id++) token_bytes[id] = (unsigned char)id;
  for (int i = 0; i < TOKENIZER_MERGES; i++) {
    int left = llm_tokenizer_merges[i][0], right = llm_tokenizer_merges[i][1];
    unsigned char *to = token_bytes + token_offset[256 + i];
    memcpy(to, token_bytes + token_offset[left], lengths[left]);
    memcpy(to + lengths[left], token_bytes + token_offset[right], lengths[right]);
  }
}

const unsigned char *tokenizer_token_bytes(int id, size_t *length) {
  *length = token_offset[id + 1] - token_offset[id];
  return token_bytes + token_offset[id];
}

unsigned char *tokenizer_decode(const int *ids, size_t count, size_t *length) {
  size_t total = 0;
  for (size_t i = 0; i < count; i++) total += token_offset[ids[i] + 1] - token_offset[ids[i]];
  unsigned char *out = xmalloc(total + 1);
  size_t at = 0;
  for (size_t i = 0; i < count; i++) {
    size_t n;
    const unsigned char *bytes = tokenizer_token_bytes(ids[i], &n);
    memcpy(out + at, bytes, n);
    at += n;
  }
  out[at] = '\0';
  *length = at;
  return out;
}

/* A min-heap of candidate merges, keyed (merged id, position of the left token): the lowest id first,
 * and for one id the leftmost first, which is the order of FORMAT.md's rounds. Merging never makes a pair
 * with an id already passed (a merge's parts have lower ids than itself), so one pass is enough. */
typedef struct {
  uint64_t *keys;
  size_t count;
} Heap;

static void heap_push(Heap *heap, uint64_t key) {
  size_t at = heap->count++;
  while (at > 0) {
    size_t parent = (at - 1) / 2;
    if (heap->keys[parent] <= key) break;
    heap->keys[at] = heap->keys[parent];
    at = parent;
  }
  heap->keys[at] = key;
}

static uint64_t heap_pop(Heap *heap) {
  uint64_t top = heap->keys[0], last = heap->keys[--heap->count];
  size_t at = 0;
  for (;;) {
    size_t child = 2 * at + 1;
    if (child >= heap->count) break;
    if (child + 1 < heap->count && heap->keys[child + 1] < heap->keys[child]) child++;
    if (heap->keys[child] >= last) break;
    heap->keys[at] = heap->keys[child];
    at = child;
  }
  if (heap->count) heap->keys[at] = last;
  return top;
}

int *tokenizer_encode(const unsigned char *text, size_t length, size_t *count) {
  int *tokens = xmalloc(length * sizeof *tokens);
  /* A doubly linked list over the positions; a merged-away position is marked dead with token -1. */
  uint32_t *next = xmalloc(length * sizeof *next), *prev = xmalloc(length * sizeof *prev);
  const uint32_t none = UINT32_MAX;
  Heap heap = {xmalloc((3 * length + 1) * sizeof *heap.keys), 0};
  for (size_t i = 0; i < length; i++) {
    tokens[i] = text[i];
    next[i] = i + 1 < length ? (uint32_t)(i + 1) : none;
    prev[i] = i ? (uint32_t)(i - 1) : none;
  }
  for (size_t i = 0; i + 1 < length; i++) {
    int id = merged_id(tokens[i], tokens[i + 1]);
    if (id >= 0) heap_push(&heap, ((uint64_t)id << 32) | i);
  }
  while (heap.count) {
    uint64_t key = heap_pop(&heap);
    int id = (int)(key >> 32);
    uint32_t left = (uint32_t)key, right = next[left];
    /* Stale entries: the left token was merged away or changed, or its neighbour did. */
    if (tokens[left] < 0 || right == none || merged_id(tokens[left], tokens[right]) != id) continue;
    tokens[left] = id;
    tokens[right] = -1;
    next[left] = next[right];
    if (next[right] != none) prev[next[right]] = left;
    if (prev[left] != none) {
      int before = merged_id(tokens[prev[left]], id);
      if (before >= 0) heap_push(&heap, ((uint64_t)before << 32) | prev[left]);
    }
    if (next[left] != none) {
      int after = merged_id(id, tokens[next[left]]);
      if (after >= 0) heap_push(&heap, ((uint64_t)after << 32) | left);
    }
  }
  size_t kept = 0;
  for (size_t i = 0; i < length; i++)
    if (tokens[i] >= 0) tokens[kept++] = tokens[i];
  free(next);
  free(prev);
  free(heap.keys);
  *count = kept;
  return tokens;
}
