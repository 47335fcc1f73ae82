"""The encoder side, whatever the task: where weights come from and loading them, what an encoder is
(its facts), pooling and heads, the device and precision, a saved model's files, tiny test encoders."""
