// The snapshot entity-section reader: decodes one part against its baseline, walking the baseline's
// kept entities and the created ones in id order, with the records of section-records.ts.
import { BitReader } from './bits.ts';
import { DecodeError } from './errors.ts';
import { OutOfRange, extrapolator, type Extrapolator } from './extrapolate.ts';
import type { NetSchema } from './schema.ts';
import {
  CREATED, CodeOrders, FieldReader, REMOVED, UPDATED, UpdateHeader, ageBits, readCount, sectionRecords, serializeOrders, serializePlacement,
  type PartPlacement, type SectionRecords,
} from './section-records.ts';
import { SNAPSHOT_HEADER, SnapshotFrame, SnapshotKind, snapshotLayout, type SnapshotLayout, type SnapshotPacketHeader } from './snapshot.ts';

// A module-local copy for the per-entity call (an imported binding is loaded through its module cell at every use).
const THROW = OutOfRange.Throw;

/**
 * Decodes snapshot parts into frames. Scratch is preallocated and grows with the largest part
 * seen; a decode allocates nothing in steady state. Hostile bytes raise DecodeError naming the field.
 */
export class SectionDecoder {
  readonly layout: SnapshotLayout;
  private readonly rec: SectionRecords;
  private readonly extrapolator: Extrapolator;
  private readonly r = new BitReader();
  private readonly fields = new FieldReader(this.r);
  private readonly orders: CodeOrders;
  private readonly header: UpdateHeader;
  private readonly created: SnapshotFrame;
  private removed: Int32Array;

  constructor(schema: NetSchema) {
    this.layout = snapshotLayout(schema);
    this.rec = sectionRecords(this.layout);
    this.extrapolator = extrapolator(this.layout);
    this.orders = new CodeOrders(this.layout.nr);
    this.header = new UpdateHeader(this.layout.ns);
    this.created = new SnapshotFrame(schema, 64);
    this.removed = new Int32Array(64);
  }

  /**
   * Reads just the placement of a part (multi-part meta; a single part covers everything) without
   * decoding entities. Throws DecodeError when malformed.
   */
  readPlacement(bytes: Uint8Array, h: SnapshotPacketHeader, out: PartPlacement): PartPlacement {
    this.r.reset(bytes, h.bodyOffset);
    serializePlacement(this.fields, this.layout, h.partCount, out);
    return out;
  }

  /**
   * Decodes one part into rows [rowStart, rowStart + rows) of `out`, against `base` (null for a
   * full snapshot; a delta's base must be the frame of h.baselineTick). `rowLimit` bounds the rows
   * this part may write (so a hostile part cannot overwrite rows of parts already decoded). Does
   * not set out.count or out.tick. Reads to exhaustion.
   */
  decodePart(bytes: Uint8Array, h: SnapshotPacketHeader, base: SnapshotFrame | null, out: SnapshotFrame, rowLimit: number, place: PartPlacement): void {
    const rec = this.rec;
    const orders = this.orders;
    const r = this.r.reset(bytes, h.bodyOffset);
    if ((h.kind === SnapshotKind.Delta) !== (base !== null)) throw new DecodeError('kind', SNAPSHOT_HEADER.kind.offset, 'baseline does not match the snapshot kind');
    if (base && base.tick !== h.baselineTick) throw new DecodeError('baselineAge', SNAPSHOT_HEADER.baselineAge.offset, 'wrong baseline frame');
    const dt = base ? h.tick - base.tick : 0;
    serializePlacement(this.fields, this.layout, h.partCount, place);
    serializeOrders(this.fields, this.layout, orders);
    const { idLo, idHi, rowStart } = place;
    const bLo = base ? base.lowerBound(idLo) : 0;
    const bHi = base ? base.lowerBound(idHi) : 0;
    // Removals: baseline rows.
    const nRem = readCount(r, REMOVED, bHi - bLo);
    if (this.removed.length < nRem) this.removed = new Int32Array(Math.max(nRem, this.removed.length * 2));
    let last = bLo - 1;
    for (let k = 0; k < nRem; k++) {
      const row = last + 1 + rec.readRemoved(r, bHi - last - 2);
      this.removed[k] = row;
      last = row;
    }
    // Creations, into scratch rows until merged in id order.
    const nCre = readCount(r, CREATED, idHi - idLo);
    const cr = this.created;
    cr.ensureCapacity(nCre);
    let lastId = idLo - 1;
    for (let k = 0; k < nCre; k++) lastId = rec.readCreated(r, orders, lastId, idHi, cr, k);
    const kept = bHi - bLo - nRem;
    const rows = kept + nCre;
    if (rowStart + rows > rowLimit) throw new DecodeError('part.rows', r.position(), `${rows} entities from row ${rowStart} overrun the snapshot (limit ${rowLimit})`);
    if (place.totalCount >= 0 && rowStart + rows > place.totalCount) throw new DecodeError('part.rows', r.position(), 'more entities than the snapshot holds');
    out.ensureCapacity(rowStart + rows);
    // Updates, merged with kept and created entities in id order.
    const nUpd = readCount(r, UPDATED, kept);
    let updLeft = nUpd;
    let skip = updLeft > 0 ? rec.readSkip(r, orders) : -1;
    const header = this.header;
    const x = this.extrapolator;
    header.present = false;
    const aBits = ageBits(dt);
    let o = rowStart;
    let ci = 0;
    let ri = 0;
    for (let b = bLo; b < bHi; b++) {
      if (ri < nRem && this.removed[ri] === b) {
        ri++;
        continue;
      }
      const B = base as SnapshotFrame;
      const id = B.ids[b];
      while (ci < nCre && cr.ids[ci] < id) this.copyCreated(ci++, out, o++);
      if (ci < nCre && cr.ids[ci] === id) throw new DecodeError('created.id', r.position(), `entity ${id} already exists in the baseline`);
      if (skip === 0) {
        const mask = rec.readUpdateHeader(r, B.masks[b], header);
        rec.readUpdateBody(r, orders, dt, aBits, header, mask, B, b, out, o);
        out.ids[o] = id;
        updLeft--;
        skip = updLeft > 0 ? rec.readSkip(r, orders) : -1;
      } else {
        x.row(B, b, dt, out, o, THROW, r.position());
        if (skip > 0) skip--;
      }
      o++;
    }
    while (ci < nCre) this.copyCreated(ci++, out, o++);
    if (updLeft > 0) throw new DecodeError('updated.skip', r.position(), `${updLeft} changed entities past the end of the part`);
    r.expectEnd('end');
    place.rows = o - rowStart;
  }

  private copyCreated(k: number, out: SnapshotFrame, o: number): void {
    const { nr, nf } = this.layout;
    const cr = this.created;
    out.ids[o] = cr.ids[k];
    out.masks[o] = cr.masks[k];
    for (let f = 0; f < nf; f++) out.values[o * nf + f] = cr.values[k * nf + f];
    for (let q = 0; q < nr; q++) out.rates[o * nr + q] = cr.rates[k * nr + q];
  }
}
