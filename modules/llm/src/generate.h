/*
 * Text generation, the whole program of llm and lora-inference: arguments, the prompt (truncated to the
 * context), the model (with an adapter when `with_adapter`), sampling, stdout and outputs/completion.json.
 */
#ifndef LLM_GENERATE_H
#define LLM_GENERATE_H

#define GENERATE_MAX_TOKENS 256

int generate_main(int argc, char **argv, int with_adapter);

#endif
