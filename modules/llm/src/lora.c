#include "lora.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "safetensors.h"

const char *const lora_target_names[LORA_TARGETS] = {"wq", "wv"};

float *lora_target_weight(Model *model, int layer, int target) {
  return target == 0 ? model->layers[layer].wq : model->layers[layer].wv;
}

static int is_file(const char *path) {
  struct stat info;
  return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}

const char *lora_find(const char *input) {
  static char candidate[1024];
  struct stat info;
  if (stat(input, &info) != 0) die("there is no LoraCID input at %s", input);
  if (S_ISREG(info.st_mode)) return input;
  const char *inside[] = {"outputs/lora.safetensors", "lora.safetensors"};
  for (size_t i = 0; i < sizeof inside / sizeof *inside; i++) {
    snprintf(candidate, sizeof candidate, "%s/%s", input, inside[i]);
    if (is_file(candidate)) return candidate;
  }
  die("the LoraCID input holds no adapter: give a lora-training result (with outputs/lora.safetensors) or a .safetensors file");
}

void lora_load(Adapter *adapter, const char *path, const char *weights_cid) {
  size_t length;
  unsigned char *bytes = read_whole_file(path, &length);
  if (!bytes) die("cannot read the adapter: %s", strerror(errno));
  SafeTensors st;
  char error[256];
  if (st_parse(&st, bytes, length, error, sizeof error) != 0) die("the adapter is malformed: %s", error);
  const char *format = st_meta(&st, "format");
  if (!format || strcmp(format, LORA_FORMAT) != 0)
    die("the adapter is malformed: its format is %s, not " LORA_FORMAT, format ? format : "not named");
  const char *base = st_meta(&st, "base");
  if (!base) die("the adapter is malformed: it does not name its base weights");
  if (strcmp(base, weights_cid) != 0) die("the adapter was made for other base weights (%s), not %s", base, weights_cid);
  const char *rank_text = st_meta(&st, "rank");
  uint64_t rank;
  if (!rank_text || !parse_u64(rank_text, &rank) || rank < 1 || rank > LORA_MAX_RANK)
    die("the adapter is malformed: its rank is %s, not a whole number from 1 to %d", rank_text ? rank_text : "not named", LORA_MAX_RANK);
  adapter->rank = (int)rank;
  for (int l = 0; l < MODEL_LAYERS; l++) {
    for (int t = 0; t < LORA_TARGETS; t++) {
      char name[64];
      size_t a_shape[2] = {rank, MODEL_DIM}, b_shape[2] = {MODEL_DIM, rank};
      adapter->a[l][t] = xmalloc(rank * MODEL_DIM * sizeof(float));
      adapter->b[l][t] = xmalloc(rank * MODEL_DIM * sizeof(float));
      snprintf(name, sizeof name, "layers.%d.%s.lora_a", l, lora_target_names[t]);
      if (st_read_f32(&st, name, 2, a_shape, adapter->a[l][t], error, sizeof error) != 0) die("the adapter is malformed: %s", error);
      snprintf(name, sizeof name, "layers.%d.%s.lora_b", l, lora_target_names[t]);
      if (st_read_f32(&st, name, 2, b_shape, adapter->b[l][t], error, sizeof error) != 0) die("the adapter is malformed: %s", error);
      for (size_t i = 0; i < rank * MODEL_DIM; i++)
        if (adapter->a[l][t][i] != adapter->a[l][t][i] || adapter->b[l][t][i] != adapter->b[l][t][i])
          die("the adapter is malformed: layer %d %s holds NaN", l, lora_target_names[t]);
    }
  }
  st_free(&st);
}

void lora_merge(Model *model, const Adapter *adapter) {
  int rank = adapter->rank;
  for (int l = 0; l < MODEL_LAYERS; l++) {
    for (int t = 0; t < LORA_TARGETS; t++) {
      float *w = lora_target_weight(model, l, t);
      const float *a = adapter->a[l][t], *b = adapter->b[l][t];
      for (int o = 0; o < MODEL_DIM; o++) {
        for (int i = 0; i < MODEL_DIM; i++) {
          float delta = 0.0f;
          for (int k = 0; k < rank; k++) delta += b[o * rank + k] * a[k * MODEL_DIM + i];
          w[o * MODEL_DIM + i] += delta;
        }
      }
    }
  }
}
