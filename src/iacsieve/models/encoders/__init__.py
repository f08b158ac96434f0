"""The torch encoder machinery every torch family shares: loading pretrained weights, tokenising,
the HF Trainer loop, saving. `models/hf.py` (pretrained) and `models/tiny.py` (built from config)
are thin families on top, so a CPU run exercises exactly the code a GPU run uses."""
