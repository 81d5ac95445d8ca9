/*
 * Training LoRA adapters (FORMAT.md): the forward pass over a window of tokens with its activations kept,
 * the cross-entropy of each next token, and the backward pass through the whole network for the adapter's
 * parameters only (the base weights stay frozen). The gradients were checked against finite differences by
 * modules/llm/native/gradient-check.c.
 */
#ifndef LLM_LORA_TRAIN_H
#define LLM_LORA_TRAIN_H

#include "lora.h"
#include "model.h"
#include "sample.h"

/* An adapter with every tensor zeroed (rank `rank`), for gradients and Adam's moments. */
void lora_alloc(Adapter *adapter, int rank);
void lora_zero(Adapter *adapter);
/* A from small normal draws of `random` (deviation 1/sqrt(dim)), B zeros: the adapter starts as no change. */
void lora_init(Adapter *adapter, int rank, Random *random);

/* Scratch space for windows of up to `max_length` tokens. */
typedef struct LoraWorkspace LoraWorkspace;
LoraWorkspace *lora_workspace(int max_length, int rank);

/* The mean cross-entropy of predicting tokens[1..length] from tokens[0..length-1] (length <= MODEL_CONTEXT)
 * with the adapter applied; when `gradients` is not NULL, adds d(loss)/d(parameter) times `weight` to it. */
float lora_window_loss(const Model *model, const Adapter *adapter, LoraWorkspace *work, const int *tokens, int length,
                       Adapter *gradients, float weight);

/* One Adam step (beta1 0.9, beta2 0.999, epsilon 1e-8) of step number `step` (from 1). */
void lora_adam_step(Adapter *adapter, const Adapter *gradients, Adapter *first_moment, Adapter *second_moment, int step,
                    float learning_rate);

/* Writes the adapter with FORMAT.md's names and metadata. 0 on success. */
int lora_save(const Adapter *adapter, const char *path, const char *base_cid, int steps, const char *learning_rate,
              const char *seed);

#endif
