// The snapshot entity-section codec as one import (delta snapshots against a baseline, split into parts):
// re-exports exp-golomb.ts, field-tables.ts, section-records.ts, section-encoder.ts (with its planner,
// section-planner.ts), section-decoder.ts and extrapolate.ts. The layout is in PROTOCOL.md (## Snapshots).
export { MAX_EG_PREFIX, egBits, readEG, writeEG } from './exp-golomb.ts';
export { residualK } from './field-tables.ts';
export { MAX_RATE_AGE, ageBits, newPartPlacement, type PartPlacement } from './section-records.ts';
export { SectionEncoder, SectionParts } from './section-encoder.ts';
export { SectionDecoder } from './section-decoder.ts';
export { extrapolateRange } from './extrapolate.ts';
