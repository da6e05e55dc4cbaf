"""Training the quality prompts and the cross-attention LoRA on MOS data (METHOD 2)."""
