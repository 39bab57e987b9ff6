"""The I/O shell: probing, peer links, durable state, the RESP endpoint, metrics and health."""
