// Preloaded (NODE_OPTIONS=--import) into benchmark servers started with `gcOnSignal`, and inherited by
// their WebRTC worker: SIGUSR2 runs a full garbage collection, so a memory-growth measurement reads
// live memory rather than garbage the collector has not reached yet. Needs --expose-gc.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
});
