/*
 * The transformer of FORMAT.md (decoder-only, 4 layers of width 192, 6 heads, RMSNorm, tanh GELU, tied
 * output), its weights read from safetensors, and the forward pass one token at a time with a KV cache.
 * All float32, single-threaded, scalar, in a fixed order of operations, so every run gives the same bits.
 */
#ifndef LLM_MODEL_H
#define LLM_MODEL_H

#include <stddef.h>

#define MODEL_VOCAB 1024
#define MODEL_CONTEXT 128
#define MODEL_DIM 192
#define MODEL_LAYERS 4
#define MODEL_HEADS 6
#define MODEL_HEAD_DIM 32
#define MODEL_HIDDEN 768
#define MODEL_NORM_EPSILON 1e-5f

typedef struct {
  float *norm1, *wq, *wk, *wv, *wo, *norm2, *w1, *w2;
} Layer;

typedef struct {
  float *tok_emb, *pos_emb, *norm_f;
  Layer layers[MODEL_LAYERS];
} Model;

/* Reads and checks the weights; a problem ends the program with a line that names `path`. */
void model_load(Model *model, const char *path);

/* Keys and values of the positions seen so far, and the scratch space of one step. */
typedef struct {
  float keys[MODEL_LAYERS][MODEL_CONTEXT][MODEL_DIM];
  float values[MODEL_LAYERS][MODEL_CONTEXT][MODEL_DIM];
  float x[MODEL_DIM], normed[MODEL_DIM], query[MODEL_DIM], attended[MODEL_DIM], projected[MODEL_DIM];
  float hidden[MODEL_HIDDEN], scores[MODEL_CONTEXT];
} KvCache;

/* Runs `token` at `position` (0 .. MODEL_CONTEXT-1; earlier positions must be in the cache) and writes the
 * next token's logits when `logits` is not NULL. */
void model_forward(const Model *model, KvCache *cache, int token, int position, float *logits);

/* The pieces, shared with training. out[o] = sum_i w[o][i] * x[i], w stored [out][in]. */
void matvec(float *out, const float *w, const float *x, int out_dim, int in_dim);
/* out = x / sqrt(mean(x^2) + eps) * weight; returns the 1/sqrt(...) factor. */
float rmsnorm(float *out, const float *x, const float *weight, int dim);
float gelu(float v);
float gelu_derivative(float v);
float tanh_from_exp(float v);

#endif
