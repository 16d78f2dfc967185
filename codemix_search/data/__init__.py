"""The data plane: demo corpora, tokenizer, packed shards and the mixture sampler."""
