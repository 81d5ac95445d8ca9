/*
 * The byte-level BPE tokenizer of FORMAT.md: ids 0..255 are bytes, id 256 + i merges line i of
 * tokenizer.txt (embedded at build time as llm_tokenizer_merges). Encoding merges, again and again, the
 * adjacent pair with the lowest merged id (occurrences of one pair left to right); decoding expands ids
 * to bytes.
 */
#ifndef LLM_TOKENIZER_H
#define LLM_TOKENIZER_H

#include <stddef.h>

#define TOKENIZER_VOCAB 1024
#define TOKENIZER_MERGES (TOKENIZER_VOCAB - 256)

/* Generated from modules/llm/tokenizer.txt by the build. */
extern const unsigned short llm_tokenizer_merges[TOKENIZER_MERGES][2];

/* Checks the embedded merges and builds the lookup tables; call once before the others. */
void tokenizer_init(void);
/* The ids of `text`, in a new array; their count in *count. Linear-logarithmic, so a 1 MB prompt is quick. */
int *tokenizer_encode(const unsigned char *text, size_t length, size_t *count);
/* The bytes of one token. */
const unsigned char *tokenizer_token_bytes(int id, size_t *length);
/* The bytes of `ids`, in a new NUL-terminated array; their count in *length. */
unsigned char *tokenizer_decode(const int *ids, size_t count, size_t *length);

#endif
