//! Tokenization with the model's `tokenizer.json` (filled in below).
