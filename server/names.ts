// Player names as the whole room sees them: normalised (NFKC), without control, format (bidi
// overrides, isolates, zero-width) or stacked combining characters, whitespace collapsed, bounded
// in length, and unique within a room (a copy gets a number).

/** Longest name shown, in code points. */
export const MAX_DISPLAY_NAME_CODEPOINTS = 24;
/** Combining marks kept after one base character (more are "zalgo" stacks that draw over others). */
const MAX_MARKS_PER_CHAR = 2;

const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\u2028\u2029]/gu;
const SPACES = /[\p{White_Space}\p{Zs}]+/gu;

/** The displayable form of a requested name; '' when nothing displayable is left. */
export function cleanName(raw: string): string {
  const text = raw.normalize('NFKC').replace(CONTROL_OR_FORMAT, '').replace(SPACES, ' ').trim();
  let out = '';
  let count = 0;
  let marks = 0;
  for (const ch of text) {
    if (/\p{M}/u.test(ch)) {
      if (count === 0 || ++marks > MAX_MARKS_PER_CHAR) continue;
    } else {
      if (count >= MAX_DISPLAY_NAME_CODEPOINTS) break;
      marks = 0;
      count++;
    }
    out += ch;
  }
  return out.trim();
}

/** How names compare for uniqueness: case and compatibility forms folded. */
export function nameKey(name: string): string {
  return name.normalize('NFKC').toLowerCase();
}

/**
 * `name`, or `name 2`, `name 3`... : the first that `taken` (compared by nameKey) does not hold,
 * shortened so the suffix fits the length bound.
 */
export function uniqueName(name: string, taken: { has(key: string): boolean }): string {
  if (!taken.has(nameKey(name))) return name;
  for (let n = 2; ; n++) {
    const suffix = ` ${n}`;
    const base = Array.from(name).slice(0, MAX_DISPLAY_NAME_CODEPOINTS - suffix.length).join('').trimEnd();
    const candidate = base + suffix;
    if (!taken.has(nameKey(candidate))) return candidate;
  }
}
