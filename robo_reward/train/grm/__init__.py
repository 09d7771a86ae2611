"""GRM training: the trainer loop, batches, and one-shot adaptation."""
