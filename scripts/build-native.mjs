// Builds the native kernels addon (placeholder until the native backend lands).
process.exit(0);
