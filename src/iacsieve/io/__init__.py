"""Guards on reading and writing: bounded, regular-file reads; atomic writes; the output policy."""
