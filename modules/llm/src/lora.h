/*
 * LoRA adapters of FORMAT.md: W' = W + B·A on wq and wv of every layer, A [r, 192], B [192, r], in
 * safetensors with metadata format "lilypad-lora-1" and the base weights' CID.
 */
#ifndef LLM_LORA_H
#define LLM_LORA_H

#include "model.h"

#define LORA_FORMAT "lilypad-lora-1"
#define LORA_MAX_RANK 16
#define LORA_TARGETS 2 /* wq, wv */

extern const char *const lora_target_names[LORA_TARGETS];

typedef struct {
  int rank;
  float *a[MODEL_LAYERS][LORA_TARGETS]; /* [rank][MODEL_DIM] */
  float *b[MODEL_LAYERS][LORA_TARGETS]; /* [MODEL_DIM][rank] */
} Adapter;

/* Where the adapter is in the LoraCID input mounted at `input`: the input itself when it is a file, else
 * outputs/lora.safetensors (a training job's result) or lora.safetensors. Ends the program when none. */
const char *lora_find(const char *input);
/* Reads and checks an adapter; ends the program with one line when it is malformed or made for weights other
 * than `weights_cid`. */
void lora_load(Adapter *adapter, const char *path, const char *weights_cid);
/* Folds the adapter into the model's wq and wv. */
void lora_merge(Model *model, const Adapter *adapter);
/* The weight matrix of a target in a layer. */
float *lora_target_weight(Model *model, int layer, int target);

#endif
