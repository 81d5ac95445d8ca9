#include "lora-train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "safetensors.h"

#define D MODEL_DIM
#define F MODEL_HIDDEN
#define V MODEL_VOCAB
#define H MODEL_HEADS
#define HD MODEL_HEAD_DIM

void lora_alloc(Adapter *adapter, int rank) {
  adapter->rank = rank;
  for (int l = 0; l < MODEL_LAYERS; l++)
    for (int t = 0; t < LORA_TARGETS; t++) {
      adapter->a[l][t] = xcalloc((size_t)rank * D, sizeof(float));
      adapter->b[l][t] = xcalloc((size_t)rank * D, sizeof(float));
    }
}

void lora_zero(Adapter *adapter) {
  for (int l = 0; l < MODEL_LAYERS; l++)
    for (int t = 0; t < LORA_TARGETS; t++) {
      memset(adapter->a[l][t], 0, (size_t)adapter->rank * D * sizeof(float));
      memset(adapter->b[l][t], 0, (size_t)adapter->rank * D * sizeof(float));
    }
}

void lora_init(Adapter *adapter, int rank, Random *random) {
  lora_alloc(adapter, rank);
  const float deviation = 1.0f / sqrtf((float)D);
  for (int l = 0; l < MODEL_LAYERS; l++)
    for (int t = 0; t < LORA_TARGETS; t++)
      for (int i = 0; i < rank * D; i++) adapter->a[l][t][i] = random_normal(random) * deviation;
}

/* What the backward pass needs of one layer's forward pass, per position. */
typedef struct {
  float *x_in, *inv_rms1, *n1, *uq, *uv, *q, *k, *v, *probs, *att, *x_mid, *inv_rms2, *n2, *h1;
} LayerActivations;

struct LoraWorkspace {
  int max_length, rank;
  LayerActivations layers[MODEL_LAYERS];
  float *x_final, *inv_rms_f, *nf, *logits;
  /* gradients flowing back, and scratch */
  float *dx, *dx_mid, *dq, *dk, *dv, *datt, *dn1, *dn2, *dh1, *row, *dprobs;
};

LoraWorkspace *lora_workspace(int max_length, int rank) {
  LoraWorkspace *work = xcalloc(1, sizeof *work);
  size_t T = (size_t)max_length;
  work->max_length = max_length;
  work->rank = rank;
  for (int l = 0; l < MODEL_LAYERS; l++) {
    LayerActivations *a = &work->layers[l];
    a->x_in = xmalloc(T * D * sizeof(float));
    a->inv_rms1 = xmalloc(T * sizeof(float));
    a->n1 = xmalloc(T * D * sizeof(float));
    a->uq = xmalloc(T * (size_t)rank * sizeof(float));
    a->uv = xmalloc(T * (size_t)rank * sizeof(float));
    a->q = xmalloc(T * D * sizeof(float));
    a->k = xmalloc(T * D * sizeof(float));
    a->v = xmalloc(T * D * sizeof(float));
    a->probs = xmalloc((size_t)H * T * T * sizeof(float));
    a->att = xmalloc(T * D * sizeof(float));
    a->x_mid = xmalloc(T * D * sizeof(float));
    a->inv_rms2 = xmalloc(T * sizeof(float));
    a->n2 = xmalloc(T * D * sizeof(float));
    a->h1 = xmalloc(T * F * sizeof(float));
  }
  work->x_final = xmalloc(T * D * sizeof(float));
  work->inv_rms_f = xmalloc(T * sizeof(float));
  work->nf = xmalloc(T * D * sizeof(float));
  work->logits = xmalloc(T * V * sizeof(float));
  work->dx = xmalloc(T * D * sizeof(float));
  work->dx_mid = xmalloc(T * D * sizeof(float));
  work->dq = xmalloc(T * D * sizeof(float));
  work->dk = xmalloc(T * D * sizeof(float));
  work->dv = xmalloc(T * D * sizeof(float));
  work->datt = xmalloc(T * D * sizeof(float));
  work->dn1 = xmalloc(T * D * sizeof(float));
  work->dn2 = xmalloc(T * D * sizeof(float));
  work->dh1 = xmalloc(T * F * sizeof(float));
  work->row = xmalloc((F > V ? F : V) * sizeof(float));
  work->dprobs = xmalloc(T * sizeof(float));
  return work;
}

/* out[i] += sum_o w[o][i] * y[o]: the transpose of matvec, for gradients. */
static void matvec_transposed_add(float *out, const float *w, const float *y, int out_dim, int in_dim) {
  for (int o = 0; o < out_dim; o++) {
    float scale = y[o];
    const float *row = w + (size_t)o * in_dim;
    for (int i = 0; i < in_dim; i++) out[i] += row[i] * scale;
  }
}

/* dx += d(rmsnorm(x) * weight)/dx applied to dy, with r = 1/sqrt(mean(x^2) + eps) from the forward pass. */
static void rmsnorm_backward_add(float *dx, const float *x, const float *weight, float r, const float *dy, int dim) {
  float dot = 0.0f;
  for (int i = 0; i < dim; i++) dot += dy[i] * weight[i] * x[i];
  float correction = r * r * r * dot / (float)dim;
  for (int i = 0; i < dim; i++) dx[i] += r * dy[i] * weight[i] - correction * x[i];
}

/* y = W x + B (A x), keeping u = A x. */
static void project_with_lora(float *y, float *u, const float *w, const float *a, const float *b, const float *x, int rank) {
  matvec(y, w, x, D, D);
  matvec(u, a, x, rank, D);
  for (int o = 0; o < D; o++) {
    float delta = 0.0f;
    for (int k = 0; k < rank; k++) delta += b[o * rank + k] * u[k];
    y[o] += delta;
  }
}

/* Gradients of y = W x + B (A x) given dy: into the adapter's A and B, and into dx (base and adapter paths). */
static void project_with_lora_backward(float *dx, float *grad_a, float *grad_b, const float *w, const float *a, const float *b,
                                       const float *x, const float *u, const float *dy, int rank, float weight, float *du) {
  for (int k = 0; k < rank; k++) du[k] = 0.0f;
  for (int o = 0; o < D; o++)
    for (int k = 0; k < rank; k++) du[k] += b[o * rank + k] * dy[o];
  if (grad_b)
    for (int o = 0; o < D; o++)
      for (int k = 0; k < rank; k++) grad_b[o * rank + k] += weight * dy[o] * u[k];
  if (grad_a)
    for (int k = 0; k < rank; k++)
      for (int i = 0; i < D; i++) grad_a[k * D + i] += weight * du[k] * x[i];
  matvec_transposed_add(dx, a, du, rank, D);
  matvec_transposed_add(dx, w, dy, D, D);
}

float lora_window_loss(const Model *model, const Adapter *adapter, LoraWorkspace *work, const int *tokens, int length,
                       Adapter *gradients, float weight) {
  const int T = length, rank = adapter->rank;
  const float scale = 1.0f / sqrtf((float)HD);
  if (T > work->max_length || T > MODEL_CONTEXT || T < 1) die("a training window of %d tokens does not fit", T);

  /* Forward, keeping what the backward pass needs. */
  float *x = work->dx; /* the running residual stream; dx is free until the backward pass */
  for (int t = 0; t < T; t++)
    for (int i = 0; i < D; i++) x[t * D + i] = model->tok_emb[(size_t)tokens[t] * D + i] + model->pos_emb[(size_t)t * D + i];
  for (int l = 0; l < MODEL_LAYERS; l++) {
    const Layer *layer = &model->layers[l];
    LayerActivations *a = &work->layers[l];
    memcpy(a->x_in, x, (size_t)T * D * sizeof(float));
    for (int t = 0; t < T; t++) {
      const float *n1 = a->n1 + t * D;
      a->inv_rms1[t] = rmsnorm(a->n1 + t * D, x + t * D, layer->norm1, D);
      project_with_lora(a->q + t * D, a->uq + t * rank, layer->wq, adapter->a[l][0], adapter->b[l][0], n1, rank);
      matvec(a->k + t * D, layer->wk, n1, D, D);
      project_with_lora(a->v + t * D, a->uv + t * rank, layer->wv, adapter->a[l][1], adapter->b[l][1], n1, rank);
    }
    for (int t = 0; t < T; t++) {
      for (int h = 0; h < H; h++) {
        float *p = a->probs + ((size_t)h * T + t) * T, max = -INFINITY, sum = 0.0f;
        const float *q = a->q + t * D + h * HD;
        for (int s = 0; s <= t; s++) {
          const float *k = a->k + s * D + h * HD;
          float dot = 0.0f;
          for (int i = 0; i < HD; i++) dot += q[i] * k[i];
          p[s] = dot * scale;
          if (p[s] > max) max = p[s];
        }
        for (int s = 0; s <= t; s++) sum += p[s] = expf(p[s] - max);
        for (int s = 0; s <= t; s++) p[s] /= sum;
        float *out = a->att + t * D + h * HD;
        for (int i = 0; i < HD; i++) out[i] = 0.0f;
        for (int s = 0; s <= t; s++)
          for (int i = 0; i < HD; i++) out[i] += p[s] * a->v[s * D + h * HD + i];
      }
    }
    for (int t = 0; t < T; t++) {
      float *xt = x + t * D;
      matvec(work->row, layer->wo, a->att + t * D, D, D);
      for (int i = 0; i < D; i++) xt[i] += work->row[i];
      memcpy(a->x_mid + t * D, xt, D * sizeof(float));
      a->inv_rms2[t] = rmsnorm(a->n2 + t * D, xt, layer->norm2, D);
      float *h1 = a->h1 + (size_t)t * F;
      matvec(h1, layer->w1, a->n2 + t * D, F, D);
      float *g = work->dh1; /* scratch for the GELU output */
      for (int i = 0; i < F; i++) g[i] = gelu(h1[i]);
      matvec(work->row, layer->w2, g, D, F);
      for (int i = 0; i < D; i++) xt[i] += work->row[i];
    }
  }
  memcpy(work->x_final, x, (size_t)T * D * sizeof(float));
  float loss = 0.0f;
  for (int t = 0; t < T - 1; t++) {
    work->inv_rms_f[t] = rmsnorm(work->nf + t * D, x + t * D, model->norm_f, D);
    float *logits = work->logits + (size_t)t * V, max = -INFINITY, sum = 0.0f;
    matvec(logits, model->tok_emb, work->nf + t * D, V, D);
    for (int i = 0; i < V; i++)
      if (logits[i] > max) max = logits[i];
    for (int i = 0; i < V; i++) sum += logits[i] = expf(logits[i] - max); /* logits become unnormalised probabilities */
    for (int i = 0; i < V; i++) logits[i] /= sum;
    loss -= logf(logits[tokens[t + 1]] > 1e-30f ? logits[tokens[t + 1]] : 1e-30f);
  }
  const int predictions = T - 1;
  if (predictions < 1) return 0.0f;
  loss /= (float)predictions;
  if (!gradients) return loss;

  /* Backward: the cross-entropy's gradient, through the tied output and every layer, to the adapters. */
  float *dx = work->dx;
  memset(dx, 0, (size_t)T * D * sizeof(float));
  for (int t = 0; t < predictions; t++) {
    float *dlogits = work->logits + (size_t)t * V;
    dlogits[tokens[t + 1]] -= 1.0f;
    for (int i = 0; i < V; i++) dlogits[i] /= (float)predictions;
    float *dnf = work->row;
    memset(dnf, 0, D * sizeof(float));
    matvec_transposed_add(dnf, model->tok_emb, dlogits, V, D);
    rmsnorm_backward_add(dx + t * D, work->x_final + t * D, model->norm_f, work->inv_rms_f[t], dnf, D);
  }
  float du[LORA_MAX_RANK];
  for (int l = MODEL_LAYERS - 1; l >= 0; l--) {
    const Layer *layer = &model->layers[l];
    LayerActivations *a = &work->layers[l];
    /* MLP: x_out = x_mid + W2 gelu(W1 n2) */
    memcpy(work->dx_mid, dx, (size_t)T * D * sizeof(float));
    for (int t = 0; t < T; t++) {
      float *dg = work->row;
      memset(dg, 0, F * sizeof(float));
      matvec_transposed_add(dg, layer->w2, dx + t * D, D, F);
      float *dh1 = work->dh1 + (size_t)t * F;
      const float *h1 = a->h1 + (size_t)t * F;
      for (int i = 0; i < F; i++) dh1[i] = dg[i] * gelu_derivative(h1[i]);
      float *dn2 = work->dn2 + t * D;
      memset(dn2, 0, D * sizeof(float));
      matvec_transposed_add(dn2, layer->w1, dh1, F, D);
      rmsnorm_backward_add(work->dx_mid + t * D, a->x_mid + t * D, layer->norm2, a->inv_rms2[t], dn2, D);
    }
    /* Attention: x_mid = x_in + Wo att */
    memset(work->datt, 0, (size_t)T * D * sizeof(float));
    for (int t = 0; t < T; t++) matvec_transposed_add(work->datt + t * D, layer->wo, work->dx_mid + t * D, D, D);
    memset(work->dq, 0, (size_t)T * D * sizeof(float));
    memset(work->dk, 0, (size_t)T * D * sizeof(float));
    memset(work->dv, 0, (size_t)T * D * sizeof(float));
    for (int h = 0; h < H; h++) {
      for (int t = 0; t < T; t++) {
        const float *p = a->probs + ((size_t)h * T + t) * T, *datt = work->datt + t * D + h * HD;
        float *dp = work->dprobs, weighted = 0.0f;
        for (int s = 0; s <= t; s++) {
          const float *v = a->v + s * D + h * HD;
          float dot = 0.0f;
          for (int i = 0; i < HD; i++) dot += datt[i] * v[i];
          dp[s] = dot;
          weighted += p[s] * dot;
          float *dv = work->dv + s * D + h * HD;
          for (int i = 0; i < HD; i++) dv[i] += p[s] * datt[i];
        }
        float *dq = work->dq + t * D + h * HD;
        const float *q = a->q + t * D + h * HD;
        for (int s = 0; s <= t; s++) {
          float dscore = p[s] * (dp[s] - weighted) * scale;
          const float *k = a->k + s * D + h * HD;
          float *dk = work->dk + s * D + h * HD;
          for (int i = 0; i < HD; i++) {
            dq[i] += dscore * k[i];
            dk[i] += dscore * q[i];
          }
        }
      }
    }
    /* Projections, the adapters' gradients, and the first norm. */
    for (int t = 0; t < T; t++) {
      float *dn1 = work->dn1 + t * D;
      const float *n1 = a->n1 + t * D;
      memset(dn1, 0, D * sizeof(float));
      project_with_lora_backward(dn1, gradients->a[l][0], gradients->b[l][0], layer->wq, adapter->a[l][0], adapter->b[l][0], n1,
                                 a->uq + t * rank, work->dq + t * D, rank, weight, du);
      project_with_lora_backward(dn1, gradients->a[l][1], gradients->b[l][1], layer->wv, adapter->a[l][1], adapter->b[l][1], n1,
                                 a->uv + t * rank, work->dv + t * D, rank, weight, du);
      matvec_transposed_add(dn1, layer->wk, work->dk + t * D, D, D);
      float *dxt = dx + t * D;
      memcpy(dxt, work->dx_mid + t * D, D * sizeof(float));
      rmsnorm_backward_add(dxt, a->x_in + t * D, layer->norm1, a->inv_rms1[t], dn1, D);
    }
  }
  return loss;
}

static void adam_update(float *parameter, const float *gradient, float *m, float *v, int count, float learning_rate,
                        float first_correction, float second_correction) {
  for (int i = 0; i < count; i++) {
    m[i] = 0.9f * m[i] + 0.1f * gradient[i];
    v[i] = 0.999f * v[i] + 0.001f * gradient[i] * gradient[i];
    float m_hat = m[i] / first_correction, v_hat = v[i] / second_correction;
    parameter[i] -= learning_rate * m_hat / (sqrtf(v_hat) + 1e-8f);
  }
}

void lora_adam_step(Adapter *adapter, const Adapter *gradients, Adapter *first_moment, Adapter *second_moment, int step,
                    float learning_rate) {
  float beta1_power = 1.0f, beta2_power = 1.0f;
  for (int i = 0; i < step; i++) beta1_power *= 0.9f, beta2_power *= 0.999f;
  int count = adapter->rank * D;
  for (int l = 0; l < MODEL_LAYERS; l++)
    for (int t = 0; t < LORA_TARGETS; t++) {
      adam_update(adapter->a[l][t], gradients->a[l][t], first_moment->a[l][t], second_moment->a[l][t], count, learning_rate,
                  1.0f - beta1_power, 1.0f - beta2_power);
      adam_update(adapter->b[l][t], gradients->b[l][t], first_moment->b[l][t], second_moment->b[l][t], count, learning_rate,
                  1.0f - beta1_power, 1.0f - beta2_power);
    }
}

int lora_save(const Adapter *adapter, const char *path, const char *base_cid, int steps, const char *learning_rate,
              const char *seed) {
  StOutTensor tensors[MODEL_LAYERS * LORA_TARGETS * 2];
  char names[MODEL_LAYERS * LORA_TARGETS * 2][48];
  size_t count = 0;
  for (int l = 0; l < MODEL_LAYERS; l++)
    for (int t = 0; t < LORA_TARGETS; t++) {
      snprintf(names[count], sizeof names[count], "layers.%d.%s.lora_a", l, lora_target_names[t]);
      tensors[count] = (StOutTensor){names[count], 2, {(size_t)adapter->rank, D}, adapter->a[l][t]};
      count++;
      snprintf(names[count], sizeof names[count], "layers.%d.%s.lora_b", l, lora_target_names[t]);
      tensors[count] = (StOutTensor){names[count], 2, {D, (size_t)adapter->rank}, adapter->b[l][t]};
      count++;
    }
  char rank_text[16], steps_text[16];
  snprintf(rank_text, sizeof rank_text, "%d", adapter->rank);
  snprintf(steps_text, sizeof steps_text, "%d", steps);
  StMeta meta[] = {{"format", LORA_FORMAT}, {"base", (char *)base_cid}, {"rank", rank_text}, {"steps", steps_text},
                   {"learning_rate", (char *)learning_rate}, {"seed", (char *)seed}};
  return st_write(path, tensors, count, meta, sizeof meta / sizeof *meta);
}
