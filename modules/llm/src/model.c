#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "safetensors.h"

static float *load_tensor(const SafeTensors *st, const char *path, const char *name, int rank, size_t a, size_t b) {
  size_t shape[2] = {a, b};
  float *data = xmalloc(a * (rank == 2 ? b : 1) * sizeof(float));
  char error[256];
  if (st_read_f32(st, name, rank, shape, data, error, sizeof error) != 0) die("the weights %s are not this model's: %s", path, error);
  return data;
}

void model_load(Model *model, const char *path) {
  size_t length;
  unsigned char *bytes = read_whole_file(path, &length);
  if (!bytes) die("cannot read the weights %s: %s", path, strerror(errno));
  SafeTensors st;
  char error[256];
  if (st_parse(&st, bytes, length, error, sizeof error) != 0) die("the weights %s are not a safetensors file: %s", path, error);
  const char *format = st_meta(&st, "format");
  if (!format || strcmp(format, "lilypad-llm-1") != 0)
    die("the weights %s are not lilypad-llm-1 weights (their format is %s)", path, format ? format : "not named");
  model->tok_emb = load_tensor(&st, path, "tok_emb", 2, MODEL_VOCAB, MODEL_DIM);
  model->pos_emb = load_tensor(&st, path, "pos_emb", 2, MODEL_CONTEXT, MODEL_DIM);
  model->norm_f = load_tensor(&st, path, "norm_f", 1, MODEL_DIM, 0);
  for (int l = 0; l < MODEL_LAYERS; l++) {
    Layer *layer = &model->layers[l];
    char name[64];
#define LOAD(field, rank, a, b) (snprintf(name, sizeof name, "layers.%d." #field, l), layer->field = load_tensor(&st, path, name, rank, a, b))
    LOAD(norm1, 1, MODEL_DIM, 0);
    LOAD(wq, 2, MODEL_DIM, MODEL_DIM);
    LOAD(wk, 2, MODEL_DIM, MODEL_DIM);
    LOAD(wv, 2, MODEL_DIM, MODEL_DIM);
    LOAD(wo, 2, MODEL_DIM, MODEL_DIM);
    LOAD(norm2, 1, MODEL_DIM, 0);
    LOAD(w1, 2, MODEL_HIDDEN, MODEL_DIM);
    LOAD(w2, 2, MODEL_DIM, MODEL_HIDDEN);
#undef LOAD
  }
  st_free(&st);
}

/* Four running sums (a fixed order, so the same bits everywhere) keep the adder busy without -ffast-math. */
static float dot(const float *a, const float *b, int n) {
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

void matvec(float *out, const float *w, const float *x, int out_dim, int in_dim) {
  for (int o = 0; o < out_dim; o++) out[o] = dot(w + (size_t)o * in_dim, x, in_dim);
}

float rmsnorm(float *out, const float *x, const float *weight, int dim) {
  float sum = dot(x, x, dim);
  float inverse = 1.0f / sqrtf(sum / (float)dim + MODEL_NORM_EPSILON);
  for (int i = 0; i < dim; i++) out[i] = x[i] * inverse * weight[i];
  return inverse;
}

/* tanh through expf: expf is the same correctly rounded routine in musl (WASI) and glibc, tanhf is not. */
float tanh_from_exp(float v) {
  if (v > 15.0f) return 1.0f;
  if (v < -15.0f) return -1.0f;
  float e = expf(2.0f * v);
  return (e - 1.0f) / (e + 1.0f);
}

#define GELU_C 0.7978845608f
#define GELU_A 0.044715f

float gelu(float v) {
  return 0.5f * v * (1.0f + tanh_from_exp(GELU_C * (v + GELU_A * v * v * v)));
}

float gelu_derivative(float v) {
  float t = tanh_from_exp(GELU_C * (v + GELU_A * v * v * v));
  return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_A * v * v);
}

void model_forward(const Model *model, KvCache *cache, int token, int position, float *logits) {
  float *x = cache->x;
  const float scale = 1.0f / sqrtf((float)MODEL_HEAD_DIM);
  for (int i = 0; i < MODEL_DIM; i++) x[i] = model->tok_emb[(size_t)token * MODEL_DIM + i] + model->pos_emb[(size_t)position * MODEL_DIM + i];
  for (int l = 0; l < MODEL_LAYERS; l++) {
    const Layer *layer = &model->layers[l];
    rmsnorm(cache->normed, x, layer->norm1, MODEL_DIM);
    matvec(cache->query, layer->wq, cache->normed, MODEL_DIM, MODEL_DIM);
    matvec(cache->keys[l][position], layer->wk, cache->normed, MODEL_DIM, MODEL_DIM);
    matvec(cache->values[l][position], layer->wv, cache->normed, MODEL_DIM, MODEL_DIM);
    for (int h = 0; h < MODEL_HEADS; h++) {
      const float *q = cache->query + h * MODEL_HEAD_DIM;
      float max = -INFINITY, sum = 0.0f;
      for (int t = 0; t <= position; t++) {
        cache->scores[t] = dot(q, cache->keys[l][t] + h * MODEL_HEAD_DIM, MODEL_HEAD_DIM) * scale;
        if (cache->scores[t] > max) max = cache->scores[t];
      }
      for (int t = 0; t <= position; t++) sum += cache->scores[t] = expf(cache->scores[t] - max);
      float *out = cache->attended + h * MODEL_HEAD_DIM;
      memset(out, 0, MODEL_HEAD_DIM * sizeof(float));
      for (int t = 0; t <= position; t++) {
        float p = cache->scores[t] / sum;
        const float *v = cache->values[l][t] + h * MODEL_HEAD_DIM;
        for (int i = 0; i < MODEL_HEAD_DIM; i++) out[i] += p * v[i];
      }
    }
    matvec(cache->projected, layer->wo, cache->attended, MODEL_DIM, MODEL_DIM);
    for (int i = 0; i < MODEL_DIM; i++) x[i] += cache->projected[i];
    rmsnorm(cache->normed, x, layer->norm2, MODEL_DIM);
    matvec(cache->hidden, layer->w1, cache->normed, MODEL_HIDDEN, MODEL_DIM);
    for (int i = 0; i < MODEL_HIDDEN; i++) cache->hidden[i] = gelu(cache->hidden[i]);
    matvec(cache->projected, layer->w2, cache->hidden, MODEL_DIM, MODEL_HIDDEN);
    for (int i = 0; i < MODEL_DIM; i++) x[i] += cache->projected[i];
  }
  if (!logits) return;
  rmsnorm(cache->normed, x, model->norm_f, MODEL_DIM);
  matvec(logits, model->tok_emb, cache->normed, MODEL_VOCAB, MODEL_DIM);
}
