"""Training: the corpus, training stages and evaluation. Depends on model only."""
