"""Training of the multi-view time-contrastive image encoder (`robo-reward encoder train`)."""
